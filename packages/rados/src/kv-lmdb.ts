/**
 * Embedded KvEngine on LMDB (the `lmdb` package): one directory on local disk, crash-safe
 * (copy-on-write B+tree). A write resolves after LMDB committed and flushed it, so an
 * acknowledged write survives `kill -9` and power loss. Each write runs in a child transaction
 * of lmdb's batched write transaction, so a throw aborts just that write.
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
      try {
        this.db.childTransaction(() => {
          result = fn(this.txn);
        });
      } catch (e) {
        failed = true;
        failure = e;
      }
    });
    if (failed) throw failure;
    await this.db.flushed;
    return result as T;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
