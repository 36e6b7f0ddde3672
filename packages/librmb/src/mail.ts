/**
 * Mail objects: one RADOS object per message, `m.<uuid>` in the user's namespace.
 *   data              the exact message bytes
 *   xattr rmb.meta    immutable JSON: format version, size, save date, INTERNALDATE, MIME
 *                     structure (part offsets, BODYSTRUCTURE/ENVELOPE fields, SEARCH fields)
 *   xattr rmb.origin  JSON {mailbox, flags, internalDate} at save: enough to rebuild an index entry
 *   xattr rmb.uid     "<mailbox id>:<uid>" written after the index commit (asynchronously)
 *   xattr rmb.rc      reference count: index entries pointing here (COPY/MOVE share the object)
 * An object is removed only when its count drops to 0, by a cmpxattr-guarded remove.
 */
import { randomUUID } from 'node:crypto';
import { type IoCtx, WriteOp, isErrno } from '@rmb/rados';
import { LRUCache } from 'lru-cache';
import { fromStoreError } from './errors.js';
import { type MessageMeta, parseMessage } from './mime.js';
import { withRetry } from './retry.js';

/** Version of the rmb.meta layout. */
export const META_VERSION = 1;

/** The immutable metadata stored with each mail object. Times in ms since epoch. */
export interface StoredMeta extends MessageMeta {
  v: number;
  saveDate: number;
  internalDate: number;
}

/** A mail object ready to be written. */
export interface PreparedMail {
  oid: string;
  data: Buffer;
  meta: StoredMeta;
  origin: { mailbox: string; flags: string[]; internalDate: number };
  internalDate: number;
}

/** Logger shape librmb accepts (pino-compatible). */
export interface Logger { warn(obj: object, msg?: string): void }

/** Access to a user's mail objects, with an LRU cache of their immutable metadata. */
export class MailObjects {
  private readonly cache: LRUCache<string, StoredMeta>;
  private readonly background = new Set<Promise<unknown>>();
  constructor(readonly io: IoCtx, cache: LRUCache<string, StoredMeta>, private readonly log?: Logger) {
    this.cache = cache;
  }

  /** Parse `data` and build the object to write (CPU only). */
  prepare(data: Buffer, o: { mailbox: string; flags: string[]; internalDate: number; saveDate: number }): PreparedMail {
    const meta: StoredMeta = { v: META_VERSION, saveDate: o.saveDate, internalDate: o.internalDate, ...parseMessage(data) };
    return { oid: `m.${randomUUID()}`, data, meta, origin: { mailbox: o.mailbox, flags: o.flags, internalDate: o.internalDate }, internalDate: o.internalDate };
  }

  /** Write a prepared mail object in one compound op (exclusive create). */
  async write(p: PreparedMail): Promise<void> {
    const op = new WriteOp().refuseWhenFull().create(true).writeFull(p.data)
      .setXattr('rmb.meta', JSON.stringify(p.meta))
      .setXattr('rmb.origin', JSON.stringify(p.origin))
      .setXattr('rmb.rc', '1');
    try { await this.io.operate(p.oid, op); } catch (e) { throw fromStoreError(e, 'save message'); }
    this.cache.set(p.oid, p.meta);
  }

  /** Record the UID assigned to a mail after its index commit; runs in the background. */
  recordUid(oid: string, mailbox: string, uid: number): void {
    this.track(this.io.setXattr(oid, 'rmb.uid', `${mailbox}:${uid}`));
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e) => this.log?.warn({ err: e }, 'background mail object update failed'))
      .finally(() => this.background.delete(q));
    this.background.add(q);
  }

  /** Wait for background updates (tests, shutdown). */
  async settle(): Promise<void> { await Promise.all([...this.background]); }

  /** Immutable metadata of a mail (cached; 1 round trip on a miss). */
  async meta(oid: string): Promise<StoredMeta> {
    const hit = this.cache.get(oid);
    if (hit) return hit;
    try {
      const m = JSON.parse((await this.io.getXattr(oid, 'rmb.meta')).toString()) as StoredMeta;
      this.cache.set(oid, m);
      return m;
    } catch (e) { throw fromStoreError(e, `read message ${oid}`); }
  }

  /** Bytes [offset, offset+length) of a mail (one ranged read). */
  async read(oid: string, offset = 0, length = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    try { return await this.io.read(oid, offset, length); } catch (e) { throw fromStoreError(e, `read message ${oid}`); }
  }

  private async adjust(oid: string, delta: number): Promise<void> {
    await withRetry('refcount', async () => {
      let cur: number;
      try { cur = Number((await this.io.getXattr(oid, 'rmb.rc')).toString()); }
      catch (e) { if (isErrno(e, 'ENOENT') && delta < 0) return; throw e; }
      const next = cur + delta;
      const op = new WriteOp().cmpXattr('rmb.rc', 'eq', String(cur));
      if (next <= 0) op.remove(); else op.setXattr('rmb.rc', String(next));
      await this.io.operate(oid, op);
      if (next <= 0) this.cache.delete(oid);
    });
  }

  /** Take one more reference (before an index entry pointing here is committed). */
  async retain(oid: string): Promise<void> {
    try { await this.adjust(oid, +1); } catch (e) { throw fromStoreError(e, 'copy message'); }
  }

  /** Remove an object no index entry refers to (a save that was not committed); errors ignored. */
  async discard(oid: string): Promise<void> {
    await this.io.remove(oid).catch(() => undefined);
  }

  /** Drop one reference (after an index entry was removed); removes the object at 0. */
  async release(oid: string): Promise<void> {
    try { await this.adjust(oid, -1); } catch (e) { this.log?.warn({ err: e, oid }, 'release of mail object failed; gc will reclaim it'); }
  }
}
