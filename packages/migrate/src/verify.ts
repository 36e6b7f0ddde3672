/**
 * Verification of a migrated user against its source, independent of the sync's own state:
 *   L0 per folder: the folder exists, UIDVALIDITY, UIDNEXT, message count and sum of sizes equal;
 *      subscriptions and special-use equal;
 *   L1 per message: the same UID set, RFC822.SIZE, INTERNALDATE (to the second), flags and
 *      keywords as sets;
 *   L2 the SHA-256 of the bytes on both sides (the source's as IMAP serves them, CRLF line ends).
 * Every difference is named (folder, UID, what) and counted by category. Memory: one window of
 * 500 messages' metadata and one batch of bodies at a time.
 */
import { createHash } from 'node:crypto';
import { toCrlf, type IndexEntry, type MailStore, type UserStore } from '@rmb/librmb';
import { rmbName } from './names.js';
import type { OpenFolder, Source, SourceMeta } from './source.js';

/** The outcome of a verification. */
export interface VerifyResult {
  level: 0 | 1 | 2;
  /** Difference counts by category (only categories with differences). */
  differences: Record<string, number>;
  /** One line per difference, at most `maxDetails`. */
  details: string[];
  source: { folders: number; messages: number; bytes: number };
  rmb: { folders: number; messages: number; bytes: number };
  /**
   * Per source folder, the UIDNEXT up to which level 2 has now compared the bytes (every message
   * below it, or from `contentFrom` on): the `contentFrom` of a later incremental verification.
   */
  contentMarks: Record<string, number>;
  /** Messages whose bytes were compared (level 2). */
  hashed: number;
}

/** Total differences of a result. */
export const differenceCount = (r: VerifyResult): number => Object.values(r.differences).reduce((a, b) => a + b, 0);

const WINDOW = 500;

class Differences {
  readonly counts: Record<string, number> = {};
  readonly details: string[] = [];
  constructor(private readonly max: number) {}
  add(category: string, detail: string): void {
    this.counts[category] = (this.counts[category] ?? 0) + 1;
    if (this.details.length < this.max) this.details.push(`${category}: ${detail}`);
  }
}

const sortedFlags = (f: string[]) => JSON.stringify(f.filter((x) => x.toLowerCase() !== '\\recent').sort());

/** SHA-256 of a source message as IMAP serves it (bare LF made CRLF). */
async function sourceHash(open: OpenFolder, m: SourceMeta, body: Buffer | undefined): Promise<string | null> {
  const h = createHash('sha256');
  if (body) return h.update(toCrlf(body)).digest('hex');
  const s = await open.stream(m.uid);
  if (!s) return null;
  let prevCr = false;
  for await (const chunk of s.source) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    h.update(toCrlf(b, prevCr));
    if (b.length) prevCr = b[b.length - 1] === 0x0d;
  }
  return h.digest('hex');
}

/** SHA-256 of a rmb message, read in pieces of 8 MiB. */
async function rmbHash(user: UserStore, e: IndexEntry): Promise<string> {
  const h = createHash('sha256');
  const piece = 8 << 20;
  for (let off = 0; off < e.size || off === 0; off += piece) {
    h.update(await user.messageBytes(e, off, Math.min(piece, Math.max(0, e.size - off))));
    if (e.size === 0) break;
  }
  return h.digest('hex');
}

/**
 * Verify `rmbUser` against `source` at `level`. Reads only; never changes either side. Throws the
 * source's typed errors (SourceUnavailable, SourceAuthError) and the store's.
 */
export async function verifyUser(
  store: MailStore,
  rmbUser: string,
  source: Source,
  level: 0 | 1 | 2,
  o: {
    altChar?: string;
    maxDetails?: number;
    largeMessageBytes?: number;
    /**
     * Level 2 compares the bytes only of messages at or above this UID per source folder (those
     * copied since the last level-2 verification, VerifyResult.contentMarks); other folders from 1.
     */
    contentFrom?: Record<string, number>;
  } = {},
): Promise<VerifyResult> {
  const diff = new Differences(o.maxDetails ?? 1000);
  const user = await store.user(rmbUser);
  const boxes = await user.mailboxes();
  const subs = new Set(await user.subscriptions());
  const all = await source.folders();
  const folders = all.filter((f) => !f.noselect);
  const res: VerifyResult = {
    level,
    differences: diff.counts,
    details: diff.details,
    source: { folders: folders.length, messages: 0, bytes: 0 },
    rmb: { folders: boxes.length, messages: 0, bytes: 0 },
    contentMarks: {},
    hashed: 0,
  };
  // a parent the source lists as \Noselect (or not at all) is an empty parent mailbox in rmb, which has no \Noselect
  const parents = new Set<string>();
  for (const f of all) {
    const levels = rmbName(f.name, f.delimiter, o.altChar ?? '_').split('/');
    for (let i = 1; i <= levels.length; i++)
      if (f.noselect || i < levels.length) parents.add(levels.slice(0, i).join('/'));
  }
  const dests = new Set<string>();
  for (const f of folders) {
    const dest = rmbName(f.name, f.delimiter, o.altChar ?? '_');
    dests.add(dest);
    const info = boxes.find((b) => b.name === dest);
    if (!info) {
      diff.add('folder-missing', `${f.name}: not in rmb`);
      res.source.messages += f.messages;
      continue;
    }
    if (f.subscribed !== subs.has(dest))
      diff.add('subscription', `${f.name}: source ${f.subscribed}, rmb ${!f.subscribed}`);
    if ((f.specialUse ?? null) !== (info.specialUse ?? null)) {
      diff.add('special-use', `${f.name}: source ${f.specialUse ?? 'none'}, rmb ${info.specialUse ?? 'none'}`);
    }
    const mb = user.mailboxOf(info);
    const c = await mb.counters();
    const open = await source.open(f);
    const st = open.status;
    res.source.messages += st.messages;
    res.rmb.messages += c.messages;
    res.rmb.bytes += c.bytes;
    if (st.uidvalidity !== c.uidvalidity)
      diff.add('uidvalidity', `${f.name}: source ${st.uidvalidity}, rmb ${c.uidvalidity}`);
    if (st.uidnext !== c.uidnext) diff.add('uidnext', `${f.name}: source ${st.uidnext}, rmb ${c.uidnext}`);
    if (st.messages !== c.messages) diff.add('count', `${f.name}: source ${st.messages}, rmb ${c.messages}`);
    // sizes: from STATUS SIZE when offered, else summed from the messages' RFC822.SIZE
    const uids = await open.uids();
    let srcBytes = st.size ?? 0;
    const inRmb = new Set<number>();
    for (let i = 0; i < uids.length; i += WINDOW) {
      const window = uids.slice(i, i + WINDOW);
      const meta = await open.meta(window);
      if (st.size === undefined) for (const m of meta) srcBytes += m.size;
      if (level < 1) continue;
      const entries = new Map((await mb.entriesByUid(window)).map((e) => [e.uid, e]));
      const both: [SourceMeta, IndexEntry][] = [];
      for (const m of meta) {
        const e = entries.get(m.uid);
        if (!e) {
          diff.add('missing', `${f.name} UID ${m.uid}: not in rmb`);
          continue;
        }
        inRmb.add(m.uid);
        both.push([m, e]);
        if (m.size !== e.size) diff.add('size', `${f.name} UID ${m.uid}: source ${m.size}, rmb ${e.size}`);
        if (Math.floor(m.internalDate / 1000) !== Math.floor(e.internalDate / 1000)) {
          diff.add(
            'internaldate',
            `${f.name} UID ${m.uid}: source ${new Date(m.internalDate).toISOString()}, ` +
              `rmb ${new Date(e.internalDate).toISOString()}`,
          );
        }
        if (sortedFlags(m.flags) !== sortedFlags(e.flags)) {
          diff.add('flags', `${f.name} UID ${m.uid}: source ${sortedFlags(m.flags)}, rmb ${sortedFlags(e.flags)}`);
        }
      }
      if (level < 2) continue;
      const large = o.largeMessageBytes ?? 8 << 20;
      const from = o.contentFrom?.[f.name] ?? 1;
      const hashing = both.filter(([m]) => m.uid >= from);
      const bodies = await open.bodies(hashing.filter(([m]) => m.size <= large).map(([m]) => m.uid));
      res.hashed += hashing.length;
      for (const [m, e] of hashing) {
        const [a, b] = await Promise.all([sourceHash(open, m, bodies.get(m.uid)), rmbHash(user, e)]);
        if (a !== null && a !== b) diff.add('content', `${f.name} UID ${m.uid}: SHA-256 differs`);
      }
    }
    if (level >= 2) res.contentMarks[f.name] = st.uidnext;
    res.source.bytes += srcBytes;
    if (srcBytes !== c.bytes) diff.add('bytes', `${f.name}: source ${srcBytes} bytes, rmb ${c.bytes}`);
    if (level >= 1) {
      for await (const page of mb.entryPages(1, 1000)) {
        for (const e of page) if (!inRmb.has(e.uid)) diff.add('extra', `${f.name} UID ${e.uid}: only in rmb`);
      }
    }
  }
  for (const b of boxes) {
    if (dests.has(b.name)) continue;
    const empty = (await user.mailboxOf(b).counters()).messages === 0;
    if (!(parents.has(b.name) && empty)) diff.add('folder-extra', `${b.name}: only in rmb`);
  }
  return res;
}
