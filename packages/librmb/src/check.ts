/**
 * `rmb check [USER|--all] [--repair]` (issue 15 item 2): the consistency of a user's objects.
 *
 * Kinds of defect found, per user:
 * - `orphanMail`: a mail object no index entry (nor kept expunged mail, `x:`) refers to, older
 *   than the grace period (a save in flight is never taken); also stripes whose first object is gone;
 * - `missingMail`: an index entry whose mail object is gone;
 * - `refcount`: a mail object whose `rmb.rc` differs from the entries and kept mails referring to it;
 * - `counters`: counters `h` that differ from the entries (MESSAGES, UNSEEN, DELETED, bytes, UIDNEXT
 *   not above the last UID); checked only for a mailbox no one changed during its walk;
 * - `logGap`: an entry changed above the change log's floor that no log record names (a QRESYNC
 *   client would miss it);
 * - `orphanIndex`: an index object or shard object no mailbox (no `s:` record) names, older than
 *   the grace period.
 * With `repair`, each is fixed with guarded ops, so servers may run meanwhile: orphans removed,
 * entries of missing mail expunged, reference counts and counters set (compare-and-set on the
 * value read), the log's floor raised above the gap. The user's objects are listed in pages;
 * memory grows with the user's largest mailbox (a count per referenced mail object), not with
 * the cluster.
 */
import { ObjectNotFound, WriteOp } from '@rmb/rados';
import { countFlags } from './counters.js';
import { COUNTERS_KEY, META_XATTR, REFCOUNT_XATTR, isMailOid } from './layout.js';
import type { StoredMeta } from './mail.js';
import { newCounters } from './mailbox.js';
import type { UserStore } from './store.js';
import type { Counters } from './types.js';

/** Kinds of defect `rmb check` reports. */
export const DEFECT_KINDS = ['orphanMail', 'missingMail', 'refcount', 'counters', 'logGap', 'orphanIndex'] as const;
/** One kind of defect (a name of DEFECT_KINDS). */
export type DefectKind = (typeof DEFECT_KINDS)[number];

/** One defect: its kind, the object or mailbox, and what was found. */
export interface Defect {
  kind: DefectKind;
  /** The object, or `<mailbox name>` / `<mailbox name> UID <uid>`. */
  where: string;
  detail: string;
  /** Set when `repair` fixed it. */
  repaired?: boolean;
}

/** The result of checking one user. */
export interface CheckReport {
  user: string;
  /** Defects by kind (every kind present, 0 when none). */
  counts: Record<DefectKind, number>;
  defects: Defect[];
  /** Mail objects looked at, index entries walked. */
  objects: number;
  entries: number;
  /** Mailboxes changed during their walk (their counters are not judged; run again). */
  busy: string[];
}

/** Options of checkUser. */
export interface CheckOptions {
  repair?: boolean;
  /** Objects younger than this (ms) are never orphans (default 1 hour). */
  graceMs?: number;
}

const STRIPE_OID = /^(m\.[0-9a-f-]{36})\.\d+$/;
const INDEX_OID = /^i\.([0-9a-f-]{36})$/;
const SHARD_OID = /^i\.[0-9a-f-]{36}\.\d+\.[0-9a-f]+$/;
const PARALLEL = 16;

/** Check (and with `repair`, fix) the objects of `user` (see the module comment). Throws the store's errors. */
export async function checkUser(user: UserStore, o: CheckOptions = {}): Promise<CheckReport> {
  const grace = o.graceMs ?? 3_600_000;
  const io = user.io;
  const defects: Defect[] = [];
  const busy: string[] = [];
  const found = (d: Defect) => defects.push(d);
  /** mail object -> references expected (index entries and kept expunged mails). */
  const refs = new Map<string, number>();
  /** mail object -> where an entry names it (for a missing object). */
  const namedBy = new Map<string, { box: string; uid: number }[]>();
  /** mail object -> mailbox keeping it expunged (`x:`). */
  const keptIn = new Map<string, string>();
  const shards = new Set<string>();
  const indexes = new Set<string>();
  let entries = 0;
  for (const info of await user.mailboxes()) {
    const mb = user.mailboxOf(info);
    indexes.add(mb.oid);
    for (const s of await mb.shardObjects()) shards.add(s);
    let c0: Counters;
    try {
      c0 = await mb.counters();
    } catch (e) {
      found({ kind: 'counters', where: info.name, detail: `index unreadable: ${(e as Error).message}` });
      continue;
    }
    const c = newCounters(c0.uidvalidity);
    let maxUid = 0;
    const lastChange = new Map<number, number>(); // uid -> modseq, for entries above the log's floor
    for await (const page of mb.entryPages(1, 1000)) {
      for (const e of page) {
        entries++;
        refs.set(e.mail, (refs.get(e.mail) ?? 0) + 1);
        namedBy.set(e.mail, [...(namedBy.get(e.mail) ?? []), { box: info.name, uid: e.uid }]);
        c.messages++;
        c.bytes += e.size;
        countFlags(c, e.flags, 1);
        maxUid = Math.max(maxUid, e.uid);
        if (e.modseq > (c0.logFloor ?? 0)) lastChange.set(e.uid, e.modseq);
      }
    }
    for (const k of await mb.keptExpunged()) {
      refs.set(k, (refs.get(k) ?? 0) + 1);
      keptIn.set(k, info.name);
    }
    const { counters: c1, log, complete } = await mb.changesSince(c0.logFloor ?? 0);
    if (c1.highestModseq !== c0.highestModseq || c1.uidnext !== c0.uidnext) {
      busy.push(info.name);
      continue;
    }
    const wrong = [
      c.messages !== c0.messages && `MESSAGES ${c0.messages}, entries ${c.messages}`,
      c.unseen !== c0.unseen && `UNSEEN ${c0.unseen}, entries ${c.unseen}`,
      c0.deleted !== undefined && c.deleted !== c0.deleted && `DELETED ${c0.deleted}, entries ${c.deleted}`,
      c.bytes !== c0.bytes && `bytes ${c0.bytes}, entries ${c.bytes}`,
      maxUid >= c0.uidnext && `UIDNEXT ${c0.uidnext}, last UID ${maxUid}`,
    ].filter(Boolean) as string[];
    if (wrong.length) {
      const d: Defect = { kind: 'counters', where: info.name, detail: wrong.join('; ') };
      if (o.repair) d.repaired = await fixCounters(user, mb.oid, c0, c, maxUid);
      found(d);
    }
    // every entry changed above the floor must be named by a record at or above its modseq
    if (complete) {
      const named = new Map<number, number>();
      for (const l of log) for (const u of l.uids) named.set(u, Math.max(named.get(u) ?? 0, l.modseq));
      let gapTop = 0;
      for (const [uid, m] of lastChange) {
        if ((named.get(uid) ?? 0) >= m) continue;
        gapTop = Math.max(gapTop, m);
        found({ kind: 'logGap', where: `${info.name} UID ${uid}`, detail: `modseq ${m} is in no log record` });
      }
      if (gapTop && o.repair) {
        const ok = await raiseFloor(user, mb.oid, gapTop);
        for (const d of defects) if (d.kind === 'logGap' && d.where.startsWith(`${info.name} UID`)) d.repaired = ok;
      }
    }
  }
  // the user's objects, in pages
  let objects = 0;
  const stripeBases = new Set<string>();
  const seen = new Set<string>();
  const old = async (oid: string): Promise<boolean> => {
    const st = await io.stat(oid).catch(() => undefined);
    return !!st && Date.now() - st.mtimeMs >= grace;
  };
  const look = async (oid: string): Promise<void> => {
    if (isMailOid(oid)) {
      objects++;
      seen.add(oid);
      const want = refs.get(oid) ?? 0;
      let x: Map<string, Buffer>;
      try {
        x = await io.getXattrs(oid);
      } catch (e) {
        if (e instanceof ObjectNotFound) return;
        throw e;
      }
      if (!want) {
        if (!(await old(oid))) return;
        const d: Defect = { kind: 'orphanMail', where: oid, detail: 'no index entry refers to it' };
        if (o.repair) d.repaired = await removeMail(user, oid, x);
        found(d);
        return;
      }
      const rc = x.get(REFCOUNT_XATTR)?.toString();
      if (rc !== String(want)) {
        const d: Defect = { kind: 'refcount', where: oid, detail: `rmb.rc ${rc ?? 'absent'}, referred to ${want}` };
        // raising is always safe (at worst a leak); lowering only for an object untouched for the
        // grace period (a COPY in flight takes its reference before its entry is committed)
        if (o.repair && (Number(rc) < want || (await old(oid))))
          d.repaired = await io
            .operate(oid, new WriteOp().cmpXattr(REFCOUNT_XATTR, 'eq', rc ?? '').setXattr(REFCOUNT_XATTR, String(want)))
            .then(
              () => true,
              () => false,
            );
        found(d);
      }
    } else if (STRIPE_OID.test(oid)) stripeBases.add(STRIPE_OID.exec(oid)![1]);
    else if ((SHARD_OID.test(oid) && !shards.has(oid)) || (INDEX_OID.test(oid) && !indexes.has(oid))) {
      if (!(await old(oid))) return;
      const d: Defect = { kind: 'orphanIndex', where: oid, detail: 'no mailbox names it' };
      if (o.repair) d.repaired = await io.remove(oid).then(() => true, isGone);
      found(d);
    }
  };
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = await io.list(cursor, 1000);
    const oids = page.objects.map((p) => p.oid);
    for (let i = 0; i < oids.length; i += PARALLEL) await Promise.all(oids.slice(i, i + PARALLEL).map(look));
    cursor = page.cursor;
  }
  for (const base of stripeBases) {
    if (
      seen.has(base) ||
      (await io.stat(base).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const stripes = await stripesOf(user, base);
    if (!stripes.length || !(await old(stripes[0]))) continue;
    const d: Defect = {
      kind: 'orphanMail',
      where: base,
      detail: `${stripes.length} stripe(s) without their first object`,
    };
    if (o.repair)
      d.repaired = (await Promise.all(stripes.map((s) => io.remove(s).then(() => true, isGone)))).every(Boolean);
    found(d);
  }
  for (const [oid, n] of refs) {
    if (seen.has(oid)) continue;
    if (
      await io.stat(oid).then(
        () => true,
        () => false,
      )
    )
      continue; // made after the listing passed it
    // entries expunged (and their mail released) since the walk are no defect
    const places: { box: string; uid: number }[] = [];
    for (const at of namedBy.get(oid) ?? []) {
      const now = await (await user.mailbox(at.box)).entriesByUid([at.uid]);
      if (now.some((e) => e.mail === oid)) places.push(at);
    }
    const kept = keptIn.get(oid);
    const where = [...places.map((at) => `${at.box} UID ${at.uid}`), ...(kept ? [`${kept} (kept expunged)`] : [])];
    if (!where.length) continue;
    const d: Defect = { kind: 'missingMail', where: where.join(', '), detail: `${oid} is gone (${n} reference(s))` };
    if (o.repair) {
      // the entries go, and with them any kept copy of an expunge (the mail is gone for good)
      let all = true;
      for (const at of places) all = (await (await user.mailbox(at.box)).expunge([at.uid])).length === 1 && all;
      for (const box of new Set([...places.map((p) => p.box), ...(kept ? [kept] : [])]))
        await (await user.mailbox(box)).dropKept(new Set([oid]));
      d.repaired = all;
    }
    found(d);
  }
  const counts = Object.fromEntries(DEFECT_KINDS.map((k) => [k, 0])) as Record<DefectKind, number>;
  for (const d of defects) counts[d.kind]++;
  return { user: user.username, counts, defects, objects, entries, busy };
}

const isGone = (e: unknown): boolean => e instanceof ObjectNotFound;

/** The stripe objects `<base>.<k>` of a mail whose first object is gone (k = 1, 2, ... while they exist). */
async function stripesOf(user: UserStore, base: string): Promise<string[]> {
  const out: string[] = [];
  for (let k = 1; ; k++) {
    const oid = `${base}.${k}`;
    if (
      !(await user.io.stat(oid).then(
        () => true,
        () => false,
      ))
    )
      return out;
    out.push(oid);
  }
}

/** Remove an orphan mail object and its stripes, only while its count is still the one read. */
async function removeMail(user: UserStore, oid: string, x: Map<string, Buffer>): Promise<boolean> {
  const rc = x.get(REFCOUNT_XATTR)?.toString();
  const op = new WriteOp();
  if (rc !== undefined) op.cmpXattr(REFCOUNT_XATTR, 'eq', rc);
  try {
    await user.io.operate(oid, op.remove());
  } catch (e) {
    return isGone(e);
  }
  const stripe = (JSON.parse(x.get(META_XATTR)?.toString() ?? '{}') as StoredMeta).stripe;
  for (let k = 1; k < (stripe?.count ?? 1); k++) await user.io.remove(`${oid}.${k}`).catch(() => undefined);
  return true;
}

/** Set the counters of `oid` to those counted, if `h` is still what was read (compare-and-set). */
async function fixCounters(
  user: UserStore,
  oid: string,
  read: Counters,
  counted: Counters,
  maxUid: number,
): Promise<boolean> {
  const raw = (await user.io.omapGetByKeys(oid, [COUNTERS_KEY])).get(COUNTERS_KEY);
  const now = raw ? (JSON.parse(raw.toString()) as Counters) : undefined;
  if (!raw || now!.highestModseq !== read.highestModseq || now!.uidnext !== read.uidnext) return false;
  const fixed: Counters = {
    ...read,
    messages: counted.messages,
    unseen: counted.unseen,
    bytes: counted.bytes,
    ...(read.deleted !== undefined ? { deleted: counted.deleted } : {}),
    uidnext: Math.max(read.uidnext, maxUid + 1),
  };
  const op = new WriteOp().omapCmp(COUNTERS_KEY, 'eq', raw).omapSet({ [COUNTERS_KEY]: JSON.stringify(fixed) });
  return user.io.operate(oid, op).then(
    () => true,
    () => false,
  );
}

/** Raise the change log's floor of `oid` to at least `floor`, if `h` is unchanged since read. */
async function raiseFloor(user: UserStore, oid: string, floor: number): Promise<boolean> {
  const raw = (await user.io.omapGetByKeys(oid, [COUNTERS_KEY])).get(COUNTERS_KEY);
  if (!raw) return false;
  const c = JSON.parse(raw.toString()) as Counters;
  const op = new WriteOp()
    .omapCmp(COUNTERS_KEY, 'eq', raw)
    .omapSet({ [COUNTERS_KEY]: JSON.stringify({ ...c, logFloor: Math.max(c.logFloor ?? 0, floor) }) });
  return user.io.operate(oid, op).then(
    () => true,
    () => false,
  );
}
