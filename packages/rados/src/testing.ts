/**
 * Test support shared by every package's suites (import from "@rmb/rados/testing"; uses Jest's
 * globals, so only test code may import it).
 *
 * Gate for suites that need a real Ceph cluster (RMB_CEPH_CONF, see scripts/ceph-local.sh).
 * Without one, the suite is registered as skipped and a loud notice is printed (Jest reports
 * the skipped tests, and the ceph-notice reporter repeats it after the run); with
 * RMB_CEPH_REQUIRED=1 (set by .ci/run) a missing cluster fails instead.
 */
import type { Cluster, IoCtx, OpStats } from './contract.js';
import { cephFromEnv } from './index.js';

/** Register `fn` as describe(name) when a Ceph cluster is configured (see above). */
export function cephSuite(name: string, fn: () => void): void {
  if (cephFromEnv()) { describe(name, fn); return; }
  if (process.env.RMB_CEPH_REQUIRED === '1') {
    describe(name, () => {
      test('a Ceph cluster is configured', () => {
        throw new Error('RMB_CEPH_REQUIRED=1 but RMB_CEPH_CONF is not set: start one with scripts/ceph-local.sh');
      });
    });
    return;
  }
  console.warn(`*** CEPH SUITE NOT RUN: "${name}" needs a Ceph cluster. Run: eval "$(scripts/ceph-local.sh start /tmp/rmb-ceph)" && npm test`);
  describe.skip(name, fn);
}

/** Methods of IoCtx that are one RADOS operation each. */
const OPS = new Set(['stat', 'read', 'getXattr', 'getXattrs', 'omapGetByKeys', 'omapList', 'operate', 'operateRead',
  'writeFull', 'write', 'append', 'remove', 'setXattr', 'omapSet', 'omapRm', 'list', 'watch', 'notify']);

/** One operation seen by a SteppedCluster: IoCtx method and object. */
export interface SteppedOp { method: string; oid: string }

/**
 * A Cluster wrapper for counting round trips (cost-model tests): every IoCtx operation is held
 * until the test releases the whole batch of operations issued so far as one "wave". Operations
 * released together overlap; an operation issued only after a wave completed depends on it. So
 * the number of waves before a reply is the number of serial round trips on its path, whatever
 * the backend's speed.
 */
export class SteppedCluster implements Cluster {
  private held: { op: SteppedOp; run: () => Promise<void> }[] = [];
  /** While false (set-up), operations run at once and are not counted. */
  holding = false;
  private arrived?: () => void;
  constructor(readonly inner: Cluster) {}
  get backend(): string { return this.inner.backend; }
  get stats(): OpStats { return this.inner.stats; }
  async ioCtx(pool: string, ns?: string): Promise<IoCtx> { return this.wrap(await this.inner.ioCtx(pool, ns)); }
  close(): Promise<void> { return this.inner.close(); }

  /** Operations issued and not yet released. */
  get pending(): number { return this.held.length; }

  /** Resolves when at least one operation is held, or after `ms` (then false). */
  waitForOps(ms: number): Promise<boolean> {
    if (this.held.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.arrived = undefined; resolve(false); }, ms);
      this.arrived = () => { clearTimeout(t); this.arrived = undefined; resolve(true); };
    });
  }

  /** Release every held operation as one wave; resolves with them once all completed. */
  async releaseWave(): Promise<SteppedOp[]> {
    const wave = this.held.splice(0);
    await Promise.all(wave.map((w) => w.run()));
    await new Promise((r) => setImmediate(r)); // let the callers' continuations run
    return wave.map((w) => w.op);
  }

  private wrap(io: IoCtx): IoCtx {
    return new Proxy(io, {
      get: (target, prop, recv) => {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop === 'withNamespace') return (ns: string) => this.wrap(target.withNamespace(ns));
        if (typeof prop !== 'string' || !OPS.has(prop) || typeof v !== 'function') return v;
        if (!this.holding) return v;
        return (...args: unknown[]) => new Promise((resolve, reject) => {
          this.held.push({
            op: { method: prop, oid: String(args[0] ?? '') },
            run: () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args).then(resolve, reject),
          });
          this.arrived?.();
        });
      },
    });
  }
}

/**
 * A seeded pseudo-random generator (mulberry32) for reproducible fuzz tests: returns numbers in
 * [0, 1). The same seed gives the same sequence on every machine.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
