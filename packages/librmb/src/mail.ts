/**
 * Mail objects: one RADOS object per message, `m.<uuid>` in the user's namespace.
 *   data              the exact message bytes
 *   xattr rmb.meta    immutable JSON: format version, size, save date, INTERNALDATE, MIME
 *                     structure (part offsets, BODYSTRUCTURE/ENVELOPE fields, SEARCH fields)
 *   xattr rmb.origin  JSON {mailbox, flags, internalDate} at save: enough to rebuild an index entry
 *   xattr rmb.r.<mailbox id>.<uid>.<modseq>  each index entry pointing here, its flags (JSON), written
 *                     after the entry's commit (in the background; ADR 0021): what `rmb index rebuild`
 *                     rebuilds a lost index from; `rmb.r.<mailbox id>.<uid>.x` once expunged
 *   xattr rmb.rc      reference count: index entries pointing here (COPY/MOVE share the object)
 * An object is removed only when its count drops to 0, by a cmpxattr-guarded remove.
 *
 * Striping: a mail larger than `stripeBytes` continues in `m.<uuid>.1`, `m.<uuid>.2`, ... (data
 * only; rmb.meta records `stripe: {bytes, count}`), since one RADOS object holds at most 128 MiB
 * and one write at most 90 MiB. Such mails arrive as streams and are written in pieces of at
 * most `writeBytes`, so a save holds about one piece in memory, never the whole mail.
 */
import { type IoCtx, WriteOp, isErrno } from '@rmb/rados';
import { LRUCache } from 'lru-cache';
import { toCrlf } from './crlf.js';
import { META_XATTR, ORIGIN_XATTR, REFCOUNT_XATTR, newMailOid, stripeOid } from './layout.js';
import { Expunged, fromStoreError } from './errors.js';
import { type MessageMeta, parseMessage, parseSource } from './mime.js';
import { MessageScanner } from './mime-stream.js';
import { withRetry } from './retry.js';
import type { IndexEntry } from './types.js';
import type { InFlight } from './background.js';

/** Version of the rmb.meta layout. */
export const META_VERSION = 1;

/** The immutable metadata stored with each mail object. Times in ms since epoch. */
export interface StoredMeta extends MessageMeta {
  v: number;
  saveDate: number;
  internalDate: number;
  /** Present when the data spans several objects: stripe size in bytes and object count. */
  stripe?: { bytes: number; count: number };
}

/** Sizes of mail object I/O, in bytes. */
export interface StripeOptions {
  /** Data per object of a striped mail (default 64 MiB; at most 128 MiB on Ceph). */
  stripeBytes: number;
  /** Largest single write (default 16 MiB; at most 90 MiB on Ceph). */
  writeBytes: number;
  /**
   * Bytes of a streamed mail gathered before they are written (default 1 MiB, at most
   * writeBytes): what a streamed APPEND holds in memory besides its socket buffer.
   */
  streamWriteBytes?: number;
}
export const DEFAULT_STRIPE: StripeOptions = { stripeBytes: 64 << 20, writeBytes: 16 << 20, streamWriteBytes: 1 << 20 };

/** A mail object ready to be written. */
export interface PreparedMail {
  oid: string;
  data: Buffer;
  meta: StoredMeta;
  origin: { mailbox: string; flags: string[]; internalDate: number };
  internalDate: number;
}

/** The logger every rmb package takes (pino-compatible: a pino logger is one). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Default of MailObjects.expungeGraceMs: one hour. */
export const DEFAULT_EXPUNGE_GRACE_MS = 3_600_000;

/** Background updates of mail objects in flight at once, per user store. */
const BACKGROUND_OPS = 32;

/** Prefix of the reference xattrs of mailbox `mailbox` on a mail object (ADR 0021). */
export const refPrefix = (mailbox: string): string => `rmb.r.${mailbox}.`;
/**
 * Xattr naming one version of an index entry that points at a mail object: `rmb.r.<mailbox
 * id>.<uid>.<modseq, 16 digits>` -> the entry's flags (JSON); version `x`: expunged (value "").
 */
export const refXattr = (mailbox: string, uid: number, version: number | 'x'): string =>
  `${refPrefix(mailbox)}${uid}.${version === 'x' ? 'x' : String(version).padStart(16, '0')}`;

/** Access to a user's mail objects, with an LRU cache of their immutable metadata. */
export class MailObjects {
  private readonly cache: LRUCache<string, StoredMeta>;
  /** Background updates waiting, running, and settle() calls waiting for none. */
  private readonly queued: (() => Promise<unknown>)[] = [];
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /**
   * How long an expunged mail stays readable (ms) for sessions that still address it (RFC 2180
   * §4.1); its object is released by the first expunge in its mailbox after that (Mailbox.expunge).
   */
  expungeGraceMs = DEFAULT_EXPUNGE_GRACE_MS;

  constructor(
    readonly io: IoCtx,
    cache: LRUCache<string, StoredMeta>,
    private readonly log?: Logger,
    readonly stripe: StripeOptions = DEFAULT_STRIPE,
    /** The store's count of background writes (MailStore.settle waits for them). */
    private readonly inFlight?: InFlight,
  ) {
    this.cache = cache;
  }

  /** A fresh mail object name. */
  newOid(): string {
    return newMailOid();
  }

  /**
   * Write a mail that arrives as a stream of `size` bytes into `oid` (striped past stripeBytes),
   * bare LFs made CRLF (crlf.ts; the stored size, in the result's `size`, may so grow), parsing
   * its MIME structure on the way; the xattrs are written last, on stripe 0. Memory:
   * about one write piece. Throws the store's typed errors (QuotaExceeded when full); on any failure the
   * objects written are removed. Resolves with the metadata once everything is durable.
   */
  async writeStream(
    oid: string,
    source: AsyncIterable<Buffer>,
    size: number,
    o: { mailbox: string; flags: string[]; internalDate: number; saveDate: number },
  ): Promise<StoredMeta> {
    const { stripeBytes } = this.stripe;
    const writeBytes = Math.min(
      this.stripe.writeBytes,
      this.stripe.streamWriteBytes ?? DEFAULT_STRIPE.streamWriteBytes!,
    );
    const scanner = new MessageScanner();
    let written = 0;
    let prevCr = false;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const stripesTouched = new Set<number>();
    // pieces go to RADOS as they are (one op with several writes): no copy into one big buffer
    const flush = async (): Promise<void> => {
      const chunks = pending;
      pending = [];
      pendingLen = 0;
      let op: WriteOp | null = null;
      let opStripe = -1;
      let opBytes = 0;
      const send = async () => {
        if (op) {
          await this.io.operate(stripeOid(oid, opStripe), op);
          stripesTouched.add(opStripe);
        }
        op = null;
        opBytes = 0;
      };
      for (let data of chunks) {
        while (data.length) {
          const k = Math.floor(written / stripeBytes);
          const at = written - k * stripeBytes;
          const n = Math.min(data.length, stripeBytes - at);
          if (op && (k !== opStripe || opBytes + n > writeBytes)) await send();
          if (!op) {
            op = new WriteOp().refuseWhenFull();
            if (at === 0) op.create(true);
            opStripe = k;
          }
          op.write(at, data.subarray(0, n));
          opBytes += n;
          written += n;
          data = data.subarray(n);
        }
      }
      await send();
    };
    try {
      let received = 0;
      for await (const raw of source) {
        received += raw.length;
        const chunk = toCrlf(raw, prevCr);
        prevCr = raw.length ? raw[raw.length - 1] === 0x0d : prevCr;
        scanner.push(chunk);
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= writeBytes) await flush();
      }
      if (received !== size) throw new Error(`message stream ended after ${received} of ${size} bytes`);
      const count = Math.max(1, Math.ceil((written + pendingLen) / stripeBytes));
      const meta: StoredMeta = {
        v: META_VERSION,
        saveDate: o.saveDate,
        internalDate: o.internalDate,
        ...parseSource(scanner.finish()),
        ...(count > 1 ? { stripe: { bytes: stripeBytes, count } } : {}),
      };
      const tail = new WriteOp().refuseWhenFull();
      if (written === 0) {
        // small after all: one compound op, as write() does
        tail.create(true).writeFull(Buffer.concat(pending));
        pending = [];
      } else await flush();
      tail
        .setXattr(META_XATTR, JSON.stringify(meta))
        .setXattr(ORIGIN_XATTR, JSON.stringify({ mailbox: o.mailbox, flags: o.flags, internalDate: o.internalDate }))
        .setXattr(REFCOUNT_XATTR, '1');
      await this.io.operate(oid, tail);
      this.cache.set(oid, meta);
      return meta;
    } catch (e) {
      await Promise.all([...stripesTouched].map((k) => this.io.remove(stripeOid(oid, k)).catch(() => undefined)));
      throw fromStoreError(e, 'save message');
    }
  }

  /** Parse `data` and build the object to write (CPU only). */
  prepare(raw: Buffer, o: { mailbox: string; flags: string[]; internalDate: number; saveDate: number }): PreparedMail {
    const data = toCrlf(raw);
    const meta: StoredMeta = {
      v: META_VERSION,
      saveDate: o.saveDate,
      internalDate: o.internalDate,
      ...parseMessage(data),
    };
    return {
      oid: newMailOid(),
      data,
      meta,
      origin: { mailbox: o.mailbox, flags: o.flags, internalDate: o.internalDate },
      internalDate: o.internalDate,
    };
  }

  /** Write a prepared mail object in one compound op (exclusive create). */
  async write(p: PreparedMail): Promise<void> {
    const op = new WriteOp()
      .refuseWhenFull()
      .create(true)
      .writeFull(p.data)
      .setXattr(META_XATTR, JSON.stringify(p.meta))
      .setXattr(ORIGIN_XATTR, JSON.stringify(p.origin))
      .setXattr(REFCOUNT_XATTR, '1');
    try {
      await this.io.operate(p.oid, op);
    } catch (e) {
      throw fromStoreError(e, 'save message');
    }
    this.cache.set(p.oid, p.meta);
  }

  /**
   * Record on their mail objects, in the background, index entries committed in mailbox `mailbox`
   * (ADR 0021): the xattr of each entry's version (refXattr) with its flags; then the version it
   * replaced (`prev`: uid -> modseq) is removed. A write that lands late leaves an older version
   * beside the newer one; readers take the highest.
   */
  recordRefs(mailbox: string, entries: readonly IndexEntry[], prev?: ReadonlyMap<number, number>): void {
    for (const e of entries) {
      const old = prev?.get(e.uid);
      this.background(async () => {
        // assertExists: a setxattr would make a released object anew
        const set = new WriteOp().assertExists().setXattr(refXattr(mailbox, e.uid, e.modseq), JSON.stringify(e.flags));
        await this.io.operate(e.mail, set);
        if (old !== undefined && old !== e.modseq)
          await this.io.operate(e.mail, new WriteOp().rmXattr(refXattr(mailbox, e.uid, old))).catch(() => undefined);
      });
    }
  }

  /** Mark, in the background, the entries expunged from `mailbox` on their mail objects (refXattr `x`). */
  recordExpunged(mailbox: string, entries: readonly IndexEntry[]): void {
    for (const e of entries)
      this.background(() =>
        this.io.operate(e.mail, new WriteOp().assertExists().setXattr(refXattr(mailbox, e.uid, 'x'), '')),
      );
  }

  /**
   * Run a background update of a mail object, at most BACKGROUND_OPS at once (a STORE of a
   * whole large mailbox queues one per message); a gone object is fine, other errors are logged.
   */
  private background(job: () => Promise<unknown>): void {
    this.queued.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < BACKGROUND_OPS && this.queued.length) {
      const job = this.queued.shift()!;
      this.active++;
      const run = job();
      this.inFlight?.track(run.catch(() => undefined));
      run
        .catch((e: unknown) => {
          if (!isErrno(e, 'ENOENT')) this.log?.warn({ err: e }, 'background mail object update failed');
        })
        .finally(() => {
          this.active--;
          this.pump();
          if (!this.active && !this.queued.length) for (const w of this.waiting.splice(0)) w();
        });
    }
  }

  /** Wait for background updates (tests, shutdown). */
  async settle(): Promise<void> {
    if (!this.active && !this.queued.length) return;
    await new Promise<void>((r) => this.waiting.push(r));
  }

  /** Immutable metadata of a mail (cached; 1 round trip on a miss). */
  async meta(oid: string): Promise<StoredMeta> {
    const hit = this.cache.get(oid);
    if (hit) return hit;
    try {
      const m = JSON.parse((await this.io.getXattr(oid, META_XATTR)).toString()) as StoredMeta;
      this.cache.set(oid, m);
      return m;
    } catch (e) {
      throw readError(e, oid);
    }
  }

  /**
   * Bytes [offset, offset+length) of a mail: one ranged read, plus the stripes' reads (and their
   * layout from rmb.meta) when the range runs past the first object of a striped mail.
   */
  async read(oid: string, offset = 0, length?: number): Promise<Buffer> {
    if (length === undefined) length = Math.max(0, (await this.meta(oid)).size - offset);
    if (length <= 0) return Buffer.alloc(0);
    try {
      const cached = this.cache.get(oid);
      const firstRoom = this.stripe.stripeBytes - offset;
      if (!cached?.stripe && firstRoom > 0) {
        const first = await this.io.read(oid, offset, Math.min(length, firstRoom));
        if (first.length === length || first.length < firstRoom) return first;
      }
      const stripe = (await this.meta(oid)).stripe;
      if (!stripe) return await this.io.read(oid, offset, length);
      const parts: Promise<Buffer>[] = [];
      const end = Math.min(offset + length, stripe.bytes * stripe.count);
      for (let pos = offset; pos < end;) {
        const k = Math.floor(pos / stripe.bytes);
        const at = pos - k * stripe.bytes;
        const n = Math.min(end - pos, stripe.bytes - at);
        parts.push(this.io.read(stripeOid(oid, k), at, n));
        pos += n;
      }
      return Buffer.concat(await Promise.all(parts));
    } catch (e) {
      throw readError(e, oid);
    }
  }

  private async adjust(oid: string, delta: number): Promise<void> {
    await withRetry('refcount', async () => {
      let xattrs: Map<string, Buffer>;
      try {
        xattrs = await this.io.getXattrs(oid);
      } catch (e) {
        if (isErrno(e, 'ENOENT') && delta < 0) return;
        throw e;
      }
      const cur = Number(xattrs.get(REFCOUNT_XATTR)?.toString() ?? 'NaN');
      const next = cur + delta;
      const op = new WriteOp().cmpXattr(REFCOUNT_XATTR, 'eq', String(cur));
      if (next <= 0) op.remove();
      else op.setXattr(REFCOUNT_XATTR, String(next));
      await this.io.operate(oid, op);
      if (next <= 0) {
        this.cache.delete(oid);
        const stripe = (JSON.parse(xattrs.get(META_XATTR)?.toString() ?? '{}') as StoredMeta).stripe;
        for (let k = 1; k < (stripe?.count ?? 1); k++) await this.io.remove(stripeOid(oid, k)).catch(() => undefined);
      }
    });
  }

  /** Take one more reference (before an index entry pointing here is committed). */
  async retain(oid: string): Promise<void> {
    try {
      await this.adjust(oid, +1);
    } catch (e) {
      throw fromStoreError(e, 'copy message');
    }
  }

  /** Remove a mail no index entry refers to (a save not committed), all its stripes; errors ignored. */
  async discard(oid: string, size = 0): Promise<void> {
    const count = Math.max(1, Math.ceil(size / this.stripe.stripeBytes));
    await Promise.all(
      Array.from({ length: count }, (_, k) => this.io.remove(stripeOid(oid, k)).catch(() => undefined)),
    );
  }

  /** Drop one reference (after an index entry was removed); removes the object at 0. */
  async release(oid: string): Promise<void> {
    try {
      await this.adjust(oid, -1);
    } catch (e) {
      this.log?.warn({ err: e, oid }, 'release of mail object failed; gc will reclaim it');
    }
  }
}

/** A failed read of a mail object: gone (ENOENT) is Expunged, anything else the store's typed error. */
function readError(e: unknown, oid: string): Error {
  if (isErrno(e, 'ENOENT')) return new Expunged(`message ${oid} was expunged`);
  return fromStoreError(e, `read message ${oid}`);
}
