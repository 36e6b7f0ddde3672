/**
 * `rmb index rebuild`: a mailbox index rebuilt from its mail objects (issue 15 item 3, ADR 0021).
 *
 * Every mail object carries what its index entries were: `rmb.meta` (size, save date),
 * `rmb.origin` (INTERNALDATE and flags at save) and one `rmb.r.<mailbox id>.<uid>.<modseq>` xattr
 * per entry version with its flags (mail.ts, written after each commit), `...<uid>.x` once
 * expunged. The rebuild lists the user's objects in pages (bounded memory per page), takes the
 * newest version of each live reference to the mailbox, and writes a fresh index: same
 * UIDVALIDITY (from the mailbox list), UIDs, flags, keywords, INTERNALDATE and modseqs; UIDNEXT and
 * HIGHESTMODSEQ at least what a surviving index had and the mailbox's reserve (reserve.ts), so
 * neither goes below what a client saw. The change log starts empty, its floor at
 * HIGHESTMODSEQ, so clients resync from the entries (RFC 7162 §3.2.5.2). Objects of the mailbox
 * that no entry ever named (a save whose reference write was lost in a crash) older than
 * `graceMs` are added under new UIDs with their saved flags, as Dovecot's index rebuild adds the
 * mail files it finds. Expunged mail still kept readable (ADR 0008) is kept again, from now on.
 */
import { ObjectNotFound, WriteOp } from '@rmb/rados';
import { countFlags } from './counters.js';
import { COUNTERS_KEY, META_XATTR, ORIGIN_XATTR, expungedKey, uidKey, isMailOid } from './layout.js';
import { refPrefix, type StoredMeta } from './mail.js';
import { newCounters } from './mailbox.js';
import { DEFAULT_SHARD_WIDTH } from './index-shards.js';
import type { UserStore } from './store.js';
import { readReserve } from './reserve.js';
import type { Counters, IndexEntry } from './types.js';

/** What a rebuild found and wrote. */
export interface RebuildReport {
  mailbox: string;
  uidvalidity: number;
  /** Entries written. */
  messages: number;
  /** Of those: objects no entry had named, added under new UIDs. */
  recovered: number;
  /** Mail objects looked at. */
  objects: number;
  uidnext: number;
  highestModseq: number;
}

/** Objects read at once. */
const PARALLEL = 16;

/**
 * Rebuild the index of mailbox `name` of `user` from the mail objects (see the module comment),
 * replacing any index object there is. Objects of the mailbox younger than `graceMs` (ms) with no
 * reference are left alone (a save in flight). Throws NotFound for an unknown mailbox, the store's
 * errors otherwise. Sessions on the mailbox see it unavailable while the entries are written.
 */
export async function rebuildIndex(user: UserStore, name: string, graceMs = 3_600_000): Promise<RebuildReport> {
  const mb = await user.mailbox(name);
  const io = user.io;
  let old: Counters | undefined;
  try {
    old = await mb.counters();
  } catch {
    old = undefined; // the index object is gone or unreadable: that is why we are here
  }
  const prefix = refPrefix(mb.id);
  const found = new Map<number, IndexEntry>();
  const strays: IndexEntry[] = [];
  /** [uid, mail object] of expunged mail still kept readable (their `x:` keys are made again). */
  const kept: [number, string][] = [];
  let objects = 0;
  /** The highest UID any reference to the mailbox names, expunged ones included. */
  let maxSeen = 0;
  const now = Date.now();
  const look = async (oid: string): Promise<void> => {
    let x: Map<string, Buffer>;
    try {
      x = await io.getXattrs(oid);
    } catch (e) {
      if (e instanceof ObjectNotFound) return; // released meanwhile
      throw e;
    }
    objects++;
    const meta = x.get(META_XATTR) ? (JSON.parse(x.get(META_XATTR)!.toString()) as StoredMeta) : undefined;
    const origin = x.get(ORIGIN_XATTR)
      ? (JSON.parse(x.get(ORIGIN_XATTR)!.toString()) as { mailbox: string; flags: string[]; internalDate: number })
      : undefined;
    if (!meta || !origin) return; // not a complete mail object: for `rmb check`
    const versions = new Map<number, { modseq: number; flags: string[] } | 'x'>();
    let anyRef = false;
    /** `<mailbox>.<uid>` of every reference, and whether it was expunged. */
    const groups = new Map<string, boolean>();
    for (const [k, v] of x) {
      if (!k.startsWith('rmb.r.')) continue;
      anyRef = true;
      const group = k.slice(6, k.lastIndexOf('.'));
      groups.set(group, groups.get(group) === true || k.endsWith('.x'));
      if (!k.startsWith(prefix)) continue;
      const [uidText, ver] = k.slice(prefix.length).split('.');
      const uid = Number(uidText);
      const had = versions.get(uid);
      if (ver === 'x') versions.set(uid, 'x');
      else if (had !== 'x' && (!had || had.modseq < Number(ver)))
        versions.set(uid, { modseq: Number(ver), flags: JSON.parse(v.toString()) as string[] });
    }
    // objects saved before references were kept name their first entry in rmb.uid
    const legacy = x.get('rmb.uid')?.toString().split(':');
    if (!anyRef && legacy && legacy[0] === mb.id)
      versions.set(Number(legacy[1]), { modseq: 1, flags: origin.flags.filter((f) => f !== '\\Recent') });
    const base = { mail: oid, internalDate: origin.internalDate, size: meta.size, saveDate: meta.saveDate };
    // expunged here and referred to nowhere else: it was kept readable for the grace period (x:)
    if (anyRef && ![...groups.values()].some((gone) => !gone)) {
      const uid = [...versions].find(([, v]) => v === 'x')?.[0];
      if (uid !== undefined) kept.push([uid, oid]);
    }
    for (const [uid, v] of versions) {
      maxSeen = Math.max(maxSeen, uid);
      if (v === 'x') continue;
      const had = found.get(uid);
      if (!had || had.modseq < v.modseq) found.set(uid, { uid, flags: v.flags, modseq: v.modseq, ...base });
    }
    if (!anyRef && !legacy && origin.mailbox === mb.id) {
      const st = await io.stat(oid).catch(() => undefined);
      if (st && now - st.mtimeMs >= graceMs) strays.push({ uid: 0, flags: origin.flags, modseq: 1, ...base });
    }
  };
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = await io.list(cursor, 1000);
    const oids = page.objects.map((o) => o.oid).filter((o) => isMailOid(o));
    for (let i = 0; i < oids.length; i += PARALLEL) await Promise.all(oids.slice(i, i + PARALLEL).map(look));
    cursor = page.cursor;
  }
  const entries = [...found.values()].sort((a, b) => a.uid - b.uid);
  const c: Counters = newCounters(mb.info.uidvalidity, old?.shardWidth ?? DEFAULT_SHARD_WIDTH);
  // never below what a client may have seen: the surviving counters, or the reserve (reserve.ts)
  const reserve = await readReserve(io, mb.id);
  c.uidnext = Math.max(old?.uidnext ?? 1, maxSeen + 1, reserve?.uidnext ?? 1);
  let top = Math.max(old?.highestModseq ?? 1, (reserve?.modseq ?? 1) - 1);
  for (const e of entries) top = Math.max(top, e.modseq);
  c.highestModseq = top + 1;
  strays.sort((a, b) => a.internalDate - b.internalDate);
  for (const s of strays) {
    s.uid = c.uidnext++;
    s.modseq = c.highestModseq;
    entries.push(s);
  }
  for (const e of entries) {
    c.messages++;
    c.bytes += e.size;
    countFlags(c, e.flags, 1);
  }
  c.firstRecent = c.uidnext;
  c.logFloor = c.highestModseq;
  // the entries first, the counters last: until then readers find no counters (Unavailable), never a wrong count
  await io.operate(mb.oid, new WriteOp().create(false).omapClear());
  for (let i = 0; i < entries.length; i += 1000) {
    const set: Record<string, string> = {};
    for (const e of entries.slice(i, i + 1000)) set[uidKey(e.uid)] = JSON.stringify(e);
    await io.operate(mb.oid, new WriteOp().omapSet(set));
  }
  const keptKeys: Record<string, string> = {};
  for (const [uid, oid] of kept) keptKeys[expungedKey(now, uid)] = oid;
  await io.operate(mb.oid, new WriteOp().omapSet({ ...keptKeys, [COUNTERS_KEY]: JSON.stringify(c) }));
  user.mails.recordRefs(mb.id, strays);
  await user.mails.settle();
  await io.notify(mb.oid, String(c.highestModseq), 1000).catch(() => undefined);
  return {
    mailbox: mb.name,
    uidvalidity: c.uidvalidity,
    messages: entries.length,
    recovered: strays.length,
    objects,
    uidnext: c.uidnext,
    highestModseq: c.highestModseq,
  };
}
