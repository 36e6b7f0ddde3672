/**
 * Embedded KvEngine on LMDB (the `lmdb` package): one directory on local disk, crash-safe
 * (copy-on-write B+tree). A write resolves after LMDB committed and flushed it, so an
 * acknowledged write survives `kill -9` and power loss.
 *
 * Each write runs inside lmdb's batched write transaction against a write buffer (WriteBuffer):
 * its reads see the latest commit plus its own writes, and its writes reach LMDB only when the
 * callback returns, so a throw aborts just that write. Not LMDB's nested (child) transactions:
 * with several processes writing one environment they failed LMDB's dirty-list assertion
 * (`mdb.c: Assertion 'i == x' failed in mdb_txn_commit()`, the process aborted) and, rarely,
 * lost a guarded update (ADR 0017).
 */
import { open, type RootDatabase } from 'lmdb';
import type { KvEngine, KvTxn } from './kv.js';

/** Options of the embedded store. `mapSizeBytes` bounds the data file (default 64 GiB, sparse). */
export interface LmdbKvOptions {
  path: string;
  mapSizeBytes?: number;
}

export class LmdbKv implements KvEngine {
  private readonly db: RootDatabase<Buffer, Buffer>;
  private readonly txn: KvTxn;

  constructor(opts: LmdbKvOptions) {
    this.db = open<Buffer, Buffer>({
      path: opts.path,
      keyEncoding: 'binary',
      encoding: 'binary',
      compression: false,
      mapSize: opts.mapSizeBytes ?? 64 * 1024 ** 3,
      // commits are flushed before their promise resolves (see write()).
      noSync: false,
      // several processes may share one directory: commit synchronously, no overlapping sync
      overlappingSync: false,
      // the path is a directory even when its name has a dot (lmdb-js guesses a file then)
      noSubdir: false,
    });
    const db = this.db;
    this.txn = {
      get: (key) => {
        const v = db.getBinary(key);
        return v === undefined ? undefined : Buffer.from(v);
      },
      put: (key, value) => {
        void db.put(key, value);
      },
      del: (key) => {
        void db.remove(key);
      },
      *range(start, end) {
        for (const { key, value } of db.getRange({ start, end }))
          yield [Buffer.from(key as Buffer), Buffer.from(value)];
      },
    };
  }

  async read<T>(fn: (t: KvTxn) => T): Promise<T> {
    return fn(this.txn);
  }

  async write<T>(fn: (t: KvTxn) => T): Promise<T> {
    let result: T | undefined;
    let failure: unknown;
    let failed = false;
    await this.db.transaction(() => {
      const buffered = new WriteBuffer(this.txn);
      try {
        result = fn(buffered);
      } catch (e) {
        failed = true;
        failure = e;
        return;
      }
      buffered.apply(this.txn);
    });
    if (failed) throw failure;
    await this.db.flushed;
    return result as T;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * A transaction's writes held back until it ends: reads see `base` overlaid with them (range
 * merges both in key order); `apply` writes them to `base`. Keys are kept as latin1 strings,
 * whose code-unit order is the keys' byte order.
 */
export class WriteBuffer implements KvTxn {
  private readonly writes = new Map<string, Buffer | null>();

  constructor(private readonly base: KvTxn) {}

  get(key: Buffer): Buffer | undefined {
    const w = this.writes.get(key.toString('latin1'));
    if (w === undefined) return this.base.get(key);
    return w ?? undefined;
  }

  put(key: Buffer, value: Buffer): void {
    this.writes.set(key.toString('latin1'), value);
  }

  del(key: Buffer): void {
    this.writes.set(key.toString('latin1'), null);
  }

  *range(start: Buffer, end: Buffer): Iterable<[Buffer, Buffer]> {
    const s = start.toString('latin1');
    const e = end.toString('latin1');
    const mine = [...this.writes.keys()].filter((k) => k >= s && k < e).sort();
    let i = 0;
    for (const [key, value] of this.base.range(start, end)) {
      const k = key.toString('latin1');
      for (; i < mine.length && mine[i] < k; i++) {
        const v = this.writes.get(mine[i]);
        if (v) yield [Buffer.from(mine[i], 'latin1'), v];
      }
      if (i < mine.length && mine[i] === k) {
        const v = this.writes.get(mine[i++]);
        if (v) yield [key, v];
      } else yield [key, value];
    }
    for (; i < mine.length; i++) {
      const v = this.writes.get(mine[i]);
      if (v) yield [Buffer.from(mine[i], 'latin1'), v];
    }
  }

  /** Write the buffered puts and deletes to `t`. */
  apply(t: KvTxn): void {
    for (const [k, v] of this.writes) {
      if (v) t.put(Buffer.from(k, 'latin1'), v);
      else t.del(Buffer.from(k, 'latin1'));
    }
  }
}
