/**
 * A Cluster wrapper that reports every IoCtx operation (metrics, issue 15 item 5): its kind, how
 * long it took, and the errno of a failure; and the objects and bytes each write carried. The
 * wrapped cluster behaves exactly as the inner one.
 */
import { RadosError } from './errors.js';
import type { Cluster, IoCtx, OpStats, WriteOp } from './contract.js';

/** Methods of IoCtx that are one RADOS operation each (also used by the cost-model wrapper). */
export const IOCTX_OPS: ReadonlySet<string> = new Set([
  'stat',
  'read',
  'getXattr',
  'getXattrs',
  'omapGetByKeys',
  'omapList',
  'operate',
  'operateRead',
  'writeFull',
  'write',
  'append',
  'remove',
  'setXattr',
  'omapSet',
  'omapRm',
  'list',
  'watch',
  'notify',
]);

/** What InstrumentedCluster reports. */
export interface OpObserver {
  /** An operation ended: IoCtx method, seconds, and the errno name when it failed (e.g. ECANCELED). */
  op(method: string, seconds: number, errno?: string): void;
  /** A write carried data: objects written (1) and bytes. */
  written(objects: number, bytes: number): void;
}

/** Data bytes of a WriteOp (writeFull, write and append steps). */
function dataBytes(op: WriteOp): number {
  let n = 0;
  for (const s of op.steps) if (s.op === 'writeFull' || s.op === 'write' || s.op === 'append') n += s.data.length;
  return n;
}

/**
 * A Cluster that is `inner` seen through `wrap`: every IoCtx it hands out (and their
 * withNamespace) is wrapped. Subclasses: InstrumentedCluster, the cost model's SteppedCluster.
 */
export abstract class ClusterWrapper implements Cluster {
  constructor(readonly inner: Cluster) {}
  get backend(): string {
    return this.inner.backend;
  }
  get stats(): OpStats {
    return this.inner.stats;
  }
  async ioCtx(pool: string, ns?: string): Promise<IoCtx> {
    return this.wrap(await this.inner.ioCtx(pool, ns));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** The IoCtx handed out for `io`. */
  protected abstract wrap(io: IoCtx): IoCtx;
}

/** `inner` with every IoCtx operation reported to `observer`. */
export class InstrumentedCluster extends ClusterWrapper {
  constructor(
    inner: Cluster,
    private readonly observer: OpObserver,
  ) {
    super(inner);
  }

  protected wrap(io: IoCtx): IoCtx {
    const obs = this.observer;
    return new Proxy(io, {
      get: (target, prop, recv) => {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop === 'withNamespace') return (ns: string) => this.wrap(target.withNamespace(ns));
        if (typeof prop !== 'string' || !IOCTX_OPS.has(prop) || typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          const t0 = process.hrtime.bigint();
          const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
          try {
            const r = (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
            obs.op(prop, seconds());
            const bytes =
              prop === 'operate'
                ? dataBytes(args[1] as WriteOp)
                : prop === 'writeFull' || prop === 'write' || prop === 'append'
                  ? (args[1] as Buffer).length
                  : 0;
            if (bytes) obs.written(1, bytes);
            return r;
          } catch (e) {
            obs.op(prop, seconds(), e instanceof RadosError ? e.code : 'other');
            throw e;
          }
        };
      },
    });
  }
}
