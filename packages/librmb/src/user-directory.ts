/**
 * The user directory (issue 14): username -> user id, sharded over `users.<k>` omap objects of the
 * store's root namespace, k = FNV-1a of the UTF-8 name modulo the shard count. No object holds
 * more than about 1/shards of the users (Ceph warns past 200,000 omap keys per object; Telekom had
 * 39 M accounts), and creations of different users never contend on one object's version: each is
 * guarded by `omap_cmp` on its own key.
 *
 * The shard count is fixed when the store is first used and kept in object `userdir` (omap key
 * `shards`, written by exclusive create); a different setting later is not applied (moving users
 * between shards would be a migration of its own). A store made before sharding keeps its single
 * object `users`: it is still read (a name not in its shard is looked up there), never written.
 */
import { type IoCtx, WriteOp, isErrno } from '@rmb/rados';
import { fromStoreError } from './errors.js';
import { USERS_OID } from './layout.js';
import { withRetry } from './retry.js';

/** The object that records the shard count. */
export const USERDIR_OID = 'userdir';
/** Default shard count of a new store (setting `store.userShards`). */
export const DEFAULT_USER_SHARDS = 64;

/** FNV-1a (32 bit) of the UTF-8 bytes of `s`. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The directory of a store's root namespace (see the file comment). */
export class UserDirectory {
  private layout?: Promise<{ shards: number; legacy: boolean }>;

  /** `wanted`: the shard count a new store gets (1 to 65536). */
  constructor(
    private readonly root: IoCtx,
    private readonly wanted = DEFAULT_USER_SHARDS,
  ) {
    if (!Number.isInteger(wanted) || wanted < 1 || wanted > 65536) throw new RangeError(`bad shard count ${wanted}`);
  }

  /**
   * The store's shard count: read from `userdir`, or set to `wanted` by the first caller (an
   * exclusive create: concurrent first users agree). Cached. Throws the store's typed errors.
   */
  async shards(): Promise<number> {
    return (await this.readLayout()).shards;
  }

  /**
   * The shard count and whether a pre-sharding directory object exists (recorded with the count
   * when the store is first used, so stores without one never look there). Cached per process.
   */
  private readLayout(): Promise<{ shards: number; legacy: boolean }> {
    this.layout ??= this.loadLayout().catch((e: unknown) => {
      this.layout = undefined;
      throw e;
    });
    return this.layout;
  }

  private async loadLayout(): Promise<{ shards: number; legacy: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const got = await this.root.omapGetByKeys(USERDIR_OID, ['shards', 'legacy']);
        const n = Number(got.get('shards')?.toString());
        if (Number.isInteger(n) && n >= 1) return { shards: n, legacy: got.get('legacy')?.toString() !== '0' };
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read the user directory');
      }
      let legacy = true;
      try {
        await this.root.stat(USERS_OID);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read the user directory');
        legacy = false;
      }
      try {
        const op = new WriteOp().create(true).omapSet({ shards: String(this.wanted), legacy: legacy ? '1' : '0' });
        await this.root.operate(USERDIR_OID, op);
        return { shards: this.wanted, legacy };
      } catch (e) {
        // another process made it first: read its count
        if (!isErrno(e, 'EEXIST')) throw fromStoreError(e, 'create the user directory');
      }
    }
    throw fromStoreError(new Error('user directory shard count unreadable'), 'read the user directory');
  }

  /** The directory object holding `name`. */
  async shardOf(name: string): Promise<string> {
    return `${USERS_OID}.${fnv1a(name) % (await this.shards())}`;
  }

  /**
   * Read the shard count once per process, ahead of the first lookup (at start-up, so that a
   * first login or delivery costs one directory round trip, docs/cost-model.md). Writes nothing.
   * Throws the store's typed errors.
   */
  async prime(): Promise<void> {
    if (this.layout) return;
    try {
      const got = await this.root.omapGetByKeys(USERDIR_OID, ['shards', 'legacy']);
      const n = Number(got.get('shards')?.toString());
      // a store not used yet: the first user's creation records the count
      if (Number.isInteger(n) && n >= 1) {
        this.layout = Promise.resolve({ shards: n, legacy: got.get('legacy')?.toString() !== '0' });
      }
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read the user directory');
    }
  }

  /** The user's id, or null (1 round trip; 2 for a name not found when a pre-sharding directory exists). */
  async lookup(name: string): Promise<string | null> {
    const oid = await this.shardOf(name);
    const { legacy } = await this.readLayout();
    for (const o of legacy ? [oid, USERS_OID] : [oid]) {
      try {
        const v = (await this.root.omapGetByKeys(o, [name])).get(name);
        if (v) return v.toString();
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'look up user');
      }
    }
    return null;
  }

  /**
   * Record `name` -> `id` unless the name has an id already (then that one is returned): one op
   * on the name's shard guarded by `omap_cmp(name, eq, "")`. Throws the store's typed errors.
   */
  async create(name: string, id: string): Promise<string> {
    const oid = await this.shardOf(name);
    return withRetry('create user', async () => {
      const old = await this.lookup(name);
      if (old) return old;
      try {
        await this.root.operate(
          oid,
          new WriteOp()
            .create(false)
            .omapCmp(name, 'eq', '')
            .omapSet({ [name]: id }),
        );
        return id;
      } catch (e) {
        // created meanwhile: the lookup of the retry returns it
        if (isErrno(e, 'ECANCELED')) return (await this.lookup(name)) ?? Promise.reject(e);
        throw e;
      }
    }).catch((e: unknown) => {
      throw fromStoreError(e, 'create user');
    });
  }

  /** Forget `name` (its shard's key, and the pre-sharding directory's). Throws the store's typed errors. */
  async remove(name: string): Promise<void> {
    const oid = await this.shardOf(name);
    const { legacy } = await this.readLayout();
    for (const o of legacy ? [oid, USERS_OID] : [oid]) {
      await this.root.omapRm(o, [name]).catch((e: unknown) => {
        if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'remove user');
      });
    }
  }

  /**
   * Record many users at once (bulk provisioning): the names grouped by shard, one op per shard,
   * each name guarded as in create(). Names that exist keep their id. Returns name -> id for
   * every name. Their default mailboxes are made on first use.
   */
  async provision(entries: Map<string, string>): Promise<Map<string, string>> {
    const byShard = new Map<string, [string, string][]>();
    for (const [name, id] of entries) {
      const oid = await this.shardOf(name);
      if (!byShard.has(oid)) byShard.set(oid, []);
      byShard.get(oid)!.push([name, id]);
    }
    const out = new Map<string, string>();
    await Promise.all(
      [...byShard].map(async ([oid, list]) => {
        let todo = list;
        for (let attempt = 0; todo.length; attempt++) {
          const op = new WriteOp().create(false);
          for (const [name] of todo) op.omapCmp(name, 'eq', '');
          op.omapSet(Object.fromEntries(todo));
          try {
            await this.root.operate(oid, op);
            for (const [name, id] of todo) out.set(name, id);
            return;
          } catch (e) {
            if (!isErrno(e, 'ECANCELED') || attempt > 5) throw fromStoreError(e, 'provision users');
            // some exist already: keep theirs, try the rest again
            const have = await this.root.omapGetByKeys(
              oid,
              todo.map(([n]) => n),
            );
            for (const [n, v] of have) out.set(n, v.toString());
            todo = todo.filter(([n]) => !have.has(n));
          }
        }
      }),
    );
    return out;
  }

  /** The keys of one directory object, page by page (none when it does not exist). */
  private async *keysOf(oid: string): AsyncGenerator<string[]> {
    let after: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.root.omapList(oid, { startAfter: after, max: 10000 });
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return;
        throw fromStoreError(e, 'list users');
      }
      const keys = [...page.entries.keys()];
      if (keys.length) yield keys;
      if (!page.more || !keys.length) return;
      after = keys[keys.length - 1];
    }
  }

  /** Every username, sorted (the shards merged, and a pre-sharding directory's). */
  async names(): Promise<string[]> {
    const n = await this.shards();
    const all: string[] = [];
    for (const oid of [USERS_OID, ...Array.from({ length: n }, (_, k) => `${USERS_OID}.${k}`)]) {
      for await (const keys of this.keysOf(oid)) all.push(...keys);
    }
    return [...new Set(all)].sort();
  }

  /** Keys per shard object (diagnostics and tests): oid -> count. */
  async shardSizes(): Promise<Map<string, number>> {
    const n = await this.shards();
    const out = new Map<string, number>();
    for (let k = 0; k < n; k++) {
      let count = 0;
      for await (const keys of this.keysOf(`${USERS_OID}.${k}`)) count += keys.length;
      out.set(`${USERS_OID}.${k}`, count);
    }
    return out;
  }
}

/** Longest user name, UTF-8 bytes. */
export const MAX_USER_NAME_BYTES = 255;

/**
 * Why `name` cannot be a user name, or null when it can: empty, longer than MAX_USER_NAME_BYTES,
 * NUL or other control characters, a leading "/" or "~", or a ".." (names that try to escape a
 * path or a log line where a tool puts them; refused at the edge, issue 15 item 7).
 */
export function userNameProblem(name: string): string | null {
  if (!name) return 'empty';
  if (Buffer.byteLength(name) > MAX_USER_NAME_BYTES) return 'too long';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'control character';
  if (/^[/~]/.test(name)) return 'leading / or ~';
  if (name.includes('..')) return '".."';
  return null;
}
