/**
 * @rmb/rados — the RADOS contract (see contract.ts) and its backends:
 * `memory` (tests), `embedded` (LMDB on local disk, the default) and, where librados is
 * installed, `librados` (real Ceph).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './contract.js';
import { LmdbKv } from './kv-lmdb.js';
import { MemoryKv } from './kv-memory.js';
import { LocalCluster } from './local.js';
import { type LibradosConfig, LibradosCluster } from './librados.js';

export * from './contract.js';
export * from './errors.js';
export { LocalCluster, CHUNK } from './local.js';
export { NotifyBus } from './notify-bus.js';
export { ClusterWrapper, InstrumentedCluster, IOCTX_OPS, type OpObserver } from './instrument.js';
export { LibradosCluster, type LibradosConfig, loadAddon } from './librados.js';

/** How to reach a store. `path` is the data directory of the embedded backend. */
export type ClusterConfig =
  { backend: 'memory' } | { backend: 'embedded'; path: string; mapSizeBytes?: number } | LibradosConfig;

/**
 * Connect to the store described by `cfg`. The embedded backend creates its directory; librados
 * connects to the cluster (throws an Error saying what failed: addon missing, conf, network).
 * Throws for an unknown backend.
 */
export async function connect(cfg: ClusterConfig): Promise<Cluster> {
  switch (cfg.backend) {
    case 'memory':
      return new LocalCluster('memory', new MemoryKv());
    case 'embedded': {
      mkdirSync(cfg.path, { recursive: true });
      const c = new LocalCluster('embedded', new LmdbKv({ path: cfg.path, mapSizeBytes: cfg.mapSizeBytes }));
      // watch/notify across the processes that open this directory (notify-bus.ts)
      await c.joinBus(join(cfg.path, 'notify'));
      return c;
    }
    case 'librados':
      return LibradosCluster.connect(cfg);
    default:
      throw new Error(`unknown store backend ${(cfg as { backend: string }).backend}`);
  }
}
