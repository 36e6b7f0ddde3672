/** In-memory KvEngine for tests: a sorted key array plus a map, with copy-on-commit overlays. */
import type { KvEngine, KvTxn } from './kv.js';

function bsearch(arr: string[], k: string): number {
  let lo = 0,
    hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const s = (b: Buffer) => b.toString('latin1');
const b = (x: string) => Buffer.from(x, 'latin1');

/** A KvEngine that keeps everything in RAM (lost on exit). Latin-1 strings sort like bytes. */
export class MemoryKv implements KvEngine {
  private readonly map = new Map<string, Buffer>();
  private readonly keys: string[] = [];

  private baseTxn(overlay?: Map<string, Buffer | null>): KvTxn {
    const { map, keys } = this;
    return {
      get(key) {
        const k = s(key);
        if (overlay?.has(k)) return overlay.get(k) ?? undefined;
        return map.get(k);
      },
      put(key, value) {
        if (!overlay) throw new Error('read-only transaction');
        overlay.set(s(key), Buffer.from(value));
      },
      del(key) {
        if (!overlay) throw new Error('read-only transaction');
        overlay.set(s(key), null);
      },
      *range(start, end) {
        const ks = s(start),
          ke = s(end);
        const out: string[] = [];
        for (let i = bsearch(keys, ks); i < keys.length && keys[i] < ke; i++) out.push(keys[i]);
        if (overlay && overlay.size) {
          const set = new Set(out);
          for (const k of overlay.keys()) if (k >= ks && k < ke) set.add(k);
          const all = [...set].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
          for (const k of all) {
            const v = overlay.has(k) ? overlay.get(k) : map.get(k);
            if (v) yield [b(k), v];
          }
          return;
        }
        for (const k of out) yield [b(k), map.get(k)!];
      },
    };
  }

  async read<T>(fn: (t: KvTxn) => T): Promise<T> {
    return fn(this.baseTxn());
  }

  async write<T>(fn: (t: KvTxn) => T): Promise<T> {
    const overlay = new Map<string, Buffer | null>();
    const result = fn(this.baseTxn(overlay));
    for (const [k, v] of overlay) {
      const had = this.map.has(k);
      if (v === null) {
        if (had) {
          this.map.delete(k);
          this.keys.splice(bsearch(this.keys, k), 1);
        }
      } else {
        if (!had) this.keys.splice(bsearch(this.keys, k), 0, k);
        this.map.set(k, v);
      }
    }
    await Promise.resolve();
    return result;
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}
