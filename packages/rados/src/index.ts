/**
 * @rmb/rados — the RADOS contract (see contract.ts) and its backends:
 * `memory` (tests), `embedded` (LMDB on local disk, the default) and, where librados is
 * installed, `librados` (real Ceph).
 */
import { mkdirSync } from 'node:fs';
import type { Cluster } from './contract.js';
import { LmdbKv } from './kv-lmdb.js';
import { MemoryKv } from './kv-memory.js';
import { LocalCluster } from './local.js';

export * from './contract.js';
export * from './errors.js';
export { LocalCluster, CHUNK } from './local.js';

/** How to reach a store. `path` is the data directory of the embedded backend. */
export type ClusterConfig =
  | { backend: 'memory' }
  | { backend: 'embedded'; path: string; mapSizeBytes?: number };

/**
 * Connect to the store described by `cfg`. The embedded backend creates its directory.
 * Throws InvalidArgument for an unknown backend.
 */
export async function connect(cfg: ClusterConfig): Promise<Cluster> {
  switch (cfg.backend) {
    case 'memory':
      return new LocalCluster('memory', new MemoryKv());
    case 'embedded':
      mkdirSync(cfg.path, { recursive: true });
      return new LocalCluster('embedded', new LmdbKv({ path: cfg.path, mapSizeBytes: cfg.mapSizeBytes }));
    default:
      throw new Error(`unknown store backend ${(cfg as { backend: string }).backend}`);
  }
}
