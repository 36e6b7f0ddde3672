/**
 * A mailbox index in omap, one object `i.<mailbox id>` per mailbox:
 *   h            Counters (JSON): UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, MESSAGES, UNSEEN, DELETED, bytes
 *   u:<uid>      IndexEntry (JSON), uid zero-padded to 10 digits so omap order is UID order
 *   l:<modseq>   LogEntry (JSON), modseq zero-padded to 16 digits: the change log
 *   x:<ms>:<uid> mail object of an expunged message, kept readable for a grace period (expunge)
 *   s:<range>    shard object holding the entries of a closed UID range (index-shards.ts); a `u:`
 *                key of such a range is then an overlay over the shard's entry, or a tombstone ('')
 * Every change is ONE compound write guarded by omapCmp on `h`, retried on ECANCELED, so UIDs
 * stay unique and ascending and counters exact with any number of writers. After a commit the
 * index object is notified (watch/notify) so other sessions and front ends learn of the change.
 */
import { type IoCtx, ReadOp, type OmapPage, WriteOp } from '@rmb/rados';
import { Conflict, NotAllowed, fromStoreError } from './errors.js';
import type { MailObjects } from './mail.js';
import { countFlags } from './counters.js';
import {
  COUNTERS_KEY,
  EXPUNGED_PREFIX,
  LOG_PREFIX,
  expungedAt,
  expungedKey,
  indexOid,
  logKey,
  uidKey,
} from './layout.js';
import { appendQueue, type PendingSave } from './append-queue.js';
import { CommitLanes, type Plan } from './commit-lane.js';
import {
  DEFAULT_SHARD_WIDTH,
  ShardMiss,
  bumpInline,
  knownWidth,
  learnWidth,
  readShards,
  resolveAll,
  shardKeysOf,
  shardObjects,
  walkEntries,
  type Resolved,
} from './index-shards.js';
import type { Counters, ImportMessage, IndexEntry, LogEntry, MailboxInfo, NewMessage, SavedMessage } from './types.js';

export { uidKey, logKey, indexOid };

/**
 * Initial counters of a new mailbox; `shardWidth`: UIDs per range once its index is sharded
 * (index-shards.ts; 0 = never).
 */
export function newCounters(uidvalidity: number, shardWidth = DEFAULT_SHARD_WIDTH): Counters {
  return {
    uidvalidity,
    uidnext: 1,
    highestModseq: 1,
    messages: 0,
    unseen: 0,
    deleted: 0,
    bytes: 0,
    firstRecent: 1,
    shardWidth,
  };
}

/**
 * Create the index object of a new mailbox, with its first counters (ADR 0002: before its list
 * entry); `shardWidth` as in newCounters.
 */
export async function createIndex(io: IoCtx, info: MailboxInfo, shardWidth = DEFAULT_SHARD_WIDTH): Promise<void> {
  await io.operate(
    indexOid(info.id),
    new WriteOp().create(false).omapSet({ [COUNTERS_KEY]: JSON.stringify(newCounters(info.uidvalidity, shardWidth)) }),
  );
}

/** What a planned index change writes; returned by the planner given the current state. */

/** Flag change modes of STORE (RFC 3501 §6.4.6). */
export type StoreMode = 'add' | 'remove' | 'replace';

/** Result of STORE: entries whose flags changed, and UIDs that failed UNCHANGEDSINCE (RFC 7162). */
export interface StoreResult {
  changed: IndexEntry[];
  modified: number[];
  /** Entries that matched but were unchanged (for FETCH responses without .SILENT). */
  unchanged: IndexEntry[];
}

/** Internal: the mailbox an append guessed is not (or no longer) the one named. */
class StaleMailbox extends Error {}

/** Operations on one mailbox's index. Cheap to construct; holds no state but its identity. */
export class Mailbox {
  readonly oid: string;
  constructor(
    readonly io: IoCtx,
    readonly info: MailboxInfo,
    private readonly mails: MailObjects,
    /** The store's commit lanes (group commit per index and process); private ones when not given. */
    private readonly lanes: CommitLanes = new CommitLanes(),
  ) {
    this.oid = indexOid(info.id);
  }

  get id(): string {
    return this.info.id;
  }
  get name(): string {
    return this.info.name;
  }

  /** Current counters (1 round trip). Throws NotFound-like Unavailable when the index is gone. */
  async counters(): Promise<Counters> {
    try {
      const got = await this.io.omapGetByKeys(this.oid, [COUNTERS_KEY]);
      return JSON.parse(got.get(COUNTERS_KEY)!.toString()) as Counters;
    } catch (e) {
      throw fromStoreError(e, `mailbox ${this.name}`);
    }
  }

  /** All index entries with uid >= fromUid, in UID order (1 round trip per 1000 entries and shard). */
  async entries(fromUid = 1): Promise<IndexEntry[]> {
    const out: IndexEntry[] = [];
    // appended one by one: a spread of a large mailbox (a million entries) overflows the stack
    for await (const page of this.entryPages(fromUid)) for (const e of page) out.push(e);
    return out;
  }

  /**
   * The index entries with uid >= fromUid in pages of up to `max` entries, in UID order (one round
   * trip per page, and one per shard page of a sharded index): a whole mailbox walked in bounded
   * memory (migration, verification).
   */
  async *entryPages(fromUid = 1, max = 1000): AsyncGenerator<IndexEntry[]> {
    try {
      for await (const page of walkEntries(this.io, this.oid, fromUid, max))
        if (page.entries.length) yield page.entries;
    } catch (e) {
      throw fromStoreError(e, `mailbox ${this.name}`);
    }
  }

  /** Counters and all entries, the counters read with the first page (SELECT's single round trip up to 1000 mails). */
  async snapshot(): Promise<{ counters: Counters; entries: IndexEntry[] }> {
    let counters: Counters | undefined;
    const entries: IndexEntry[] = [];
    try {
      for await (const page of walkEntries(this.io, this.oid, 1, 1000)) {
        counters ??= page.counters;
        for (const e of page.entries) entries.push(e);
      }
    } catch (e) {
      throw fromStoreError(e, `mailbox ${this.name}`);
    }
    return { counters: counters!, entries };
  }

  /** Entries for the given UIDs that exist (1 round trip; more for entries in shard objects). */
  async entriesByUid(uids: number[]): Promise<IndexEntry[]> {
    if (!uids.length) return [];
    const pre = new Map<string, Map<number, IndexEntry>>();
    let keys = shardKeysOf(uids, knownWidth(this.widthKey));
    try {
      for (let n = 0; ; n++) {
        const got = await this.io.omapGetByKeys(this.oid, [COUNTERS_KEY, ...uids.map(uidKey), ...keys]);
        const c = JSON.parse(got.get(COUNTERS_KEY)!.toString()) as Counters;
        learnWidth(this.widthKey, c);
        try {
          const all = resolveAll(uids, c, got, new Set(keys), pre);
          return [...all.values()].flatMap((r) => (r.entry ? [r.entry] : [])).sort((a, b) => a.uid - b.uid);
        } catch (e) {
          if (!(e instanceof ShardMiss) || n > 5) throw e;
          keys = [...new Set([...keys, ...e.keys])];
          await readShards(this.io, e.shards, pre);
        }
      }
    } catch (e) {
      throw fromStoreError(e, `mailbox ${this.name}`);
    }
  }

  /** Key of this index in the learnt shard widths (index-shards.ts). */
  private get widthKey(): string {
    return `${this.io.namespace}\u0000${this.oid}`;
  }

  /**
   * An index change of messages `uids`: `plan` sees each as resolved from the index object and its
   * shard objects (index-shards.ts). Entries in shard objects are read before and the change
   * submitted again when a plan needs ones it lacks (a compaction may have moved them meanwhile).
   */
  private async updateEntries<T>(
    what: string,
    uids: number[],
    extra: string[],
    plan: (c: Counters, got: Map<string, Buffer>, entries: Map<number, Resolved>) => Plan<T>,
  ): Promise<T> {
    const pre = new Map<string, Map<number, IndexEntry>>();
    let keys = shardKeysOf(uids, knownWidth(this.widthKey));
    for (let n = 0; ; n++) {
      const requested = new Set(keys);
      try {
        return await this.update(what, [...uids.map(uidKey), ...keys, ...extra], (c, got) =>
          plan(c, got, resolveAll(uids, c, got, requested, pre)),
        );
      } catch (e) {
        if (!(e instanceof ShardMiss)) throw e;
        if (n > 5) throw new Conflict(`${what} in ${this.name}: the index kept changing under it`);
        keys = [...new Set([...keys, ...e.keys])];
        await readShards(this.io, e.shards, pre).catch((err: unknown) => {
          throw fromStoreError(err, `mailbox ${this.name}`);
        });
      }
    }
  }

  /**
   * Change-log records with modseq > since, in order, and the counters read with them.
   * `complete` is false when records above `since` were trimmed (since < counters.logFloor): the
   * caller then works from the entries instead (RFC 7162 §3.2.5.2 for VANISHED).
   */
  async changesSince(since: number): Promise<{ counters: Counters; log: LogEntry[]; complete: boolean }> {
    const log: LogEntry[] = [];
    let after = logKey(since);
    let counters: Counters | undefined;
    for (;;) {
      const op = new ReadOp().omapList({ prefix: LOG_PREFIX, startAfter: after, max: 1000 });
      if (!counters) op.omapGetByKeys([COUNTERS_KEY]);
      let res;
      try {
        res = await this.io.operateRead(this.oid, op);
      } catch (e) {
        throw fromStoreError(e, `mailbox ${this.name}`);
      }
      const page = res[0] as OmapPage;
      if (!counters) counters = JSON.parse((res[1] as Map<string, Buffer>).get(COUNTERS_KEY)!.toString()) as Counters;
      for (const v of page.entries.values()) log.push(JSON.parse(v.toString()) as LogEntry);
      if (!page.more) return { counters, log, complete: since >= (counters.logFloor ?? 0) };
      after = [...page.entries.keys()].pop()!;
    }
  }

  /**
   * The core of every index change: read `h` and `keys`, let `plan` compute the new state, and
   * write it in one compound op guarded by omapCmp(h). `before` (e.g. the mail objects' writes)
   * is awaited before the commit, overlapping the first read. Retried on a lost race. The changes
   * of this process to this mailbox are committed together (commit-lane.ts): `plan` then sees
   * the counters and keys as the changes planned before it in the batch left them.
   */
  private async update<T>(
    what: string,
    keys: string[],
    plan: (c: Counters, got: Map<string, Buffer>) => Plan<T>,
    before?: Promise<unknown>,
  ): Promise<T> {
    try {
      // the lane reads `h` with `keys` and fails the batch when the index has no counters
      return await this.lanes.submit(this.io, this.oid, keys, plan, before);
    } catch (e) {
      throw fromStoreError(e, `${what} in ${this.name}`);
    }
  }

  /**
   * Save messages (APPEND, MULTIAPPEND, LMTP delivery): the mail objects are written first, then
   * one guarded index commit assigns their UIDs. Durable when resolved.
   */
  async append(messages: NewMessage[]): Promise<SavedMessage[]> {
    return (await this.appendIfCurrent(messages)).saved;
  }

  /**
   * append() for UserStore.appendTo: `confirm`, when given, resolves whether this mailbox is still the one meant
   * (UserStore's
   * lookup, run alongside); when it says no, nothing is committed, the objects written are
   * removed and the result is `{ stale: true }`; when it fails, nothing is committed, the objects
   * are removed and its error is thrown.
   */
  async appendIfCurrent(
    messages: NewMessage[],
    confirm?: Promise<boolean>,
  ): Promise<{ stale: boolean; saved: SavedMessage[] }> {
    const now = Date.now();
    const jobs = messages.map((m) => {
      const o = { mailbox: this.id, flags: m.flags ?? [], internalDate: m.internalDate ?? now, saveDate: now };
      if (m.staged)
        return { oid: m.staged.oid, size: m.staged.size, internalDate: o.internalDate, done: Promise.resolve() };
      if (m.stream) {
        // the stored size is known once written: bare LFs become CRLF (crlf.ts)
        const job = {
          oid: this.mails.newOid(),
          size: m.stream.size,
          internalDate: o.internalDate,
          done: Promise.resolve(),
        };
        job.done = this.mails.writeStream(job.oid, m.stream.source, m.stream.size, o).then((meta) => {
          job.size = meta.size;
        });
        return job;
      }
      if (!m.data) throw new Error('a message needs data or a stream');
      const p = this.mails.prepare(m.data, o);
      return { oid: p.oid, size: p.data.length, internalDate: p.internalDate, done: this.mails.write(p) };
    });
    const entries = jobs.map((j, i) => ({
      mail: j.oid,
      flags: dedupe(messages[i].flags ?? []),
      internalDate: j.internalDate,
      size: j.size,
      saveDate: now,
    }));
    const written = Promise.all(jobs.map((j) => j.done)).then(() => {
      jobs.forEach((j, i) => {
        entries[i].size = j.size;
      });
    });
    const ready = !confirm
      ? written.then(() => undefined)
      : Promise.all([written, confirm]).then(([, ok]) => {
          if (!ok) throw new StaleMailbox();
        });
    let saved: SavedMessage[];
    try {
      saved = await new Promise<SavedMessage[]>((resolve, reject) => {
        const save: PendingSave = { ready, resolve, reject, entries };
        appendQueue(this.oid).enqueue(save, (plan, before) => this.update('append', [], plan, before));
      });
    } catch (e) {
      // nothing was committed: a stale mailbox, or a confirm that failed (its error, e.g.
      // QuotaExceeded, is the answer), leaves no written object behind
      const c = confirm
        ? await confirm.then(
            (ok) => ok,
            (err: unknown) => ({ err }),
          )
        : true;
      if (e instanceof StaleMailbox || c !== true) {
        await written.catch(() => undefined);
        await Promise.all(jobs.map((j) => this.mails.discard(j.oid, j.size)));
        if (typeof c === 'object') throw c.err;
        return { stale: true, saved: [] };
      }
      throw e;
    }
    this.mails.recordRefs(
      this.id,
      saved.map((s, i) => ({ ...entries[i], uid: s.uid, modseq: s.modseq ?? 0 })),
    );
    return { stale: false, saved };
  }

  /**
   * Import messages under the UIDs they had elsewhere (migration: clients keep their caches). The
   * mail objects are written first, then ONE guarded index commit adds every entry with its given
   * UID. UIDs must be ascending and at or above UIDNEXT (RFC 3501 §2.3.1.1: UIDs only grow);
   * UIDNEXT becomes at least `uidnext` (the source's) and above the last UID. Flags are kept as
   * given, `\Recent` excepted. Throws RangeError for UIDs out of order (nothing is written then),
   * Conflict-like store errors as append does; objects written before a failed commit are removed.
   * `entryModseq`: the modseq the new entries get, when lower than the commit's own (migration:
   * the source's HIGHESTMODSEQ when it was read, so a CONDSTORE/QRESYNC client that synced with
   * the source after that is not told of mail it has, RFC 7162 §3.1.1); the change-log record
   * and HIGHESTMODSEQ still take the commit's fresh modseq, so open sessions see the new mail.
   */
  async importMessages(messages: ImportMessage[], uidnext = 0, entryModseq?: number): Promise<SavedMessage[]> {
    for (let i = 1; i < messages.length; i++) {
      if (messages[i].uid <= messages[i - 1].uid) throw new RangeError('imported UIDs must be ascending');
    }
    if (messages.some((m) => !Number.isSafeInteger(m.uid) || m.uid < 1)) throw new RangeError('bad UID');
    const now = Date.now();
    const prepared = messages.map((m) => {
      const flags = dedupe(m.flags.filter((f) => f.toLowerCase() !== '\\recent'));
      if (m.staged) return { m, flags, p: { oid: m.staged.oid, size: m.staged.size, internalDate: m.internalDate } };
      if (!m.data) throw new RangeError(`message ${m.uid} has neither data nor a staged object`);
      const p = this.mails.prepare(m.data, { mailbox: this.id, flags, internalDate: m.internalDate, saveDate: now });
      if (m.oid) p.oid = m.oid;
      return { m, flags, p: { oid: p.oid, size: p.data.length, internalDate: p.internalDate, prepared: p } };
    });
    const written = Promise.all(prepared.map((x) => (x.p.prepared ? this.mails.write(x.p.prepared) : undefined)));
    let made: IndexEntry[] = [];
    try {
      const saved = await this.update(
        'import',
        [],
        (c) => {
          if (messages.length && messages[0].uid < c.uidnext) {
            throw new RangeError(`UID ${messages[0].uid} is below UIDNEXT ${c.uidnext}`);
          }
          const counters = { ...c };
          const modseq = ++counters.highestModseq;
          const given = entryModseq !== undefined && entryModseq >= 1 ? Math.min(entryModseq, modseq) : modseq;
          const set: Record<string, string> = {};
          const saved: SavedMessage[] = [];
          made = [];
          for (const { m, flags, p } of prepared) {
            const entry: IndexEntry = {
              uid: m.uid,
              mail: p.oid,
              flags,
              // the message's own modseq at the source when known (RFC 7162 §3.1.1: a client that
              // synced with the source at a modseq is told only of what changed after it)
              modseq: m.modseq !== undefined && m.modseq >= 1 ? Math.min(m.modseq, given) : given,
              internalDate: p.internalDate,
              size: p.size,
              saveDate: now,
            };
            set[uidKey(m.uid)] = JSON.stringify(entry);
            bumpInline(counters, 1);
            counters.messages++;
            counters.bytes += entry.size;
            countFlags(counters, flags, 1);
            saved.push({ uid: m.uid, uidvalidity: c.uidvalidity, mail: p.oid, modseq: entry.modseq });
            made.push(entry);
          }
          const last = messages.length ? messages[messages.length - 1].uid : 0;
          counters.uidnext = Math.max(c.uidnext, last + 1, uidnext);
          // every imported message has been seen: none is \Recent for rmb's sessions
          counters.firstRecent = counters.uidnext;
          set[logKey(modseq)] = JSON.stringify({
            modseq,
            kind: 'append',
            uids: saved.map((x) => x.uid),
          } satisfies LogEntry);
          return { counters, set, rm: [], result: saved };
        },
        written,
      );
      this.mails.recordRefs(this.id, made);
      return saved;
    } catch (e) {
      await written.catch(() => undefined);
      await Promise.all(prepared.map((x) => this.mails.discard(x.p.oid, x.p.size)));
      throw e;
    }
  }

  /**
   * Raise UIDNEXT and HIGHESTMODSEQ to at least the given values (migration: the source's, so a
   * client's cached UIDNEXT and HIGHESTMODSEQ stay valid, RFC 7162 §3.1.2.1), in one guarded
   * write without a change-log record (no message changed). Never lowers either. Returns the counters.
   */
  async raiseCounters(min: { uidnext?: number; highestModseq?: number }): Promise<Counters> {
    return this.update('raise counters', [], (c) => {
      const counters = {
        ...c,
        uidnext: Math.max(c.uidnext, min.uidnext ?? 0),
        highestModseq: Math.max(c.highestModseq, min.highestModseq ?? 0),
      };
      if (counters.uidnext > c.uidnext) counters.firstRecent = Math.max(c.firstRecent, counters.uidnext);
      const unchanged = counters.uidnext === c.uidnext && counters.highestModseq === c.highestModseq;
      return { counters, set: {}, rm: [], result: unchanged ? c : counters, unchanged };
    });
  }

  /**
   * Set the UIDVALIDITY of a mailbox that never held a message (UIDNEXT 1), in its counters (one
   * guarded write). Throws NotAllowed otherwise.
   */
  async resetUidvalidity(uidvalidity: number): Promise<void> {
    await this.update('uidvalidity', [], (c) => {
      if (c.uidnext !== 1) throw new NotAllowed(`mailbox ${this.name} has held mail: its UIDVALIDITY stays`);
      return {
        counters: { ...c, uidvalidity },
        set: {},
        rm: [],
        result: undefined,
        unchanged: c.uidvalidity === uidvalidity,
      };
    });
    this.info.uidvalidity = uidvalidity;
  }

  /** STORE flags on `uids`; with `unchangedSince`, entries with a higher modseq are left alone. */
  async store(uids: number[], mode: StoreMode, flags: string[], unchangedSince?: number): Promise<StoreResult> {
    const prev = new Map<number, number>();
    const res = await this.updateEntries('store', uids, [], (c, _got, found) => {
      prev.clear();
      const counters = { ...c };
      const modseq = counters.highestModseq + 1;
      const res: StoreResult = { changed: [], modified: [], unchanged: [] };
      const set: Record<string, string> = {};
      for (const uid of uids) {
        const r = found.get(uid)!;
        const e = r.entry;
        if (!e) continue;
        if (unchangedSince !== undefined && e.modseq > unchangedSince) {
          res.modified.push(uid);
          continue;
        }
        const next = applyFlags(e.flags, mode, flags);
        if (sameFlags(next, e.flags)) {
          res.unchanged.push(e);
          continue;
        }
        countFlags(counters, e.flags, -1);
        countFlags(counters, next, 1);
        const ne = { ...e, flags: next, modseq };
        prev.set(uid, e.modseq);
        // an entry of a shard object gets its overlay in the index object (index-shards.ts)
        if (!r.inlineKey) bumpInline(counters, 1);
        set[uidKey(uid)] = JSON.stringify(ne);
        res.changed.push(ne);
      }
      if (res.changed.length) {
        counters.highestModseq = modseq;
        set[logKey(modseq)] = JSON.stringify({
          modseq,
          kind: 'flags',
          uids: res.changed.map((e) => e.uid),
        } satisfies LogEntry);
      }
      return { counters, set, rm: [], result: res };
    });
    this.mails.recordRefs(this.id, res.changed, prev);
    return res;
  }

  /**
   * Remove `uids` from the index (EXPUNGE). Their mail objects stay readable for sessions that
   * still address them (RFC 2180 §4.1): each is recorded under an `x:` key (keys.ts expungedKey)
   * in the same commit, and released by the first expunge in this mailbox once
   * MailObjects.expungeGraceMs has passed (that commit claims the due `x:` keys, so exactly one
   * expunger releases each). Returns the removed UIDs, ascending.
   */
  async expunge(uids: number[]): Promise<number[]> {
    const now = Date.now();
    // a full pool needs the space now: nothing is kept, and what was kept is released too
    const keep = !this.io.full && this.mails.expungeGraceMs > 0;
    const due = await this.dueExpunged(keep ? now - this.mails.expungeGraceMs : Infinity);
    const { gone, release } = await this.updateEntries('expunge', uids, due, (c, got, found) => {
      const counters = { ...c };
      const gone: IndexEntry[] = [];
      const rm: string[] = [];
      const set: Record<string, string> = {};
      for (const uid of uids) {
        const r = found.get(uid)!;
        if (!r.entry) continue;
        gone.push(r.entry);
        // an entry with a shard object gets a tombstone over it; else its key goes
        if (r.shard) {
          set[uidKey(uid)] = '';
          if (!r.inlineKey) bumpInline(counters, 1);
        } else {
          rm.push(uidKey(uid));
          bumpInline(counters, -1);
        }
      }
      const claimed = due.filter((k) => got.has(k));
      const release = [...claimed.map((k) => got.get(k)!.toString()), ...(keep ? [] : gone.map((e) => e.mail))];
      if (!gone.length && !claimed.length)
        return { counters: c, set: {}, rm: [], result: { gone, release }, unchanged: true };
      if (gone.length) {
        const modseq = ++counters.highestModseq;
        for (const e of gone) {
          counters.messages--;
          counters.bytes -= e.size;
          countFlags(counters, e.flags, -1);
          if (keep) set[expungedKey(now, e.uid)] = e.mail;
        }
        set[logKey(modseq)] = JSON.stringify({
          modseq,
          kind: 'expunge',
          uids: gone.map((e) => e.uid),
        } satisfies LogEntry);
      } else {
        // only a claim: bump the counters' claim number so that concurrent claimers conflict
        counters.purges = (counters.purges ?? 0) + 1;
      }
      return { counters, set, rm: [...rm, ...claimed], result: { gone, release } };
    });
    this.mails.recordExpunged(this.id, gone);
    await Promise.all(release.map((oid) => this.mails.release(oid)));
    return gone.map((e) => e.uid).sort((a, b) => a - b);
  }

  /** The `x:` keys of expunged mails expunged at or before `before` (ms; one omap page, up to 1000). */
  private async dueExpunged(before: number): Promise<string[]> {
    const page = await this.io.omapList(this.oid, { prefix: EXPUNGED_PREFIX, max: 1000 }).catch((e: unknown) => {
      throw fromStoreError(e, `mailbox ${this.name}`);
    });
    return [...page.entries.keys()].filter((k) => expungedAt(k) <= before);
  }

  /** The shard objects of this index (index-shards.ts), for DELETE and checks. */
  async shardObjects(): Promise<string[]> {
    return shardObjects(this.io, this.oid);
  }

  /**
   * Forget kept expunged mails whose object is one of `oids` (`rmb check --repair` of mail gone
   * from the store); their objects are not released. Returns how many `x:` keys went.
   */
  async dropKept(oids: ReadonlySet<string>): Promise<number> {
    const drop: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.io.omapList(this.oid, { prefix: EXPUNGED_PREFIX, startAfter: after, max: 1000 });
      for (const [k, v] of page.entries) if (oids.has(v.toString())) drop.push(k);
      if (!page.more) break;
      after = [...page.entries.keys()].pop();
    }
    if (drop.length) await this.io.omapRm(this.oid, drop);
    return drop.length;
  }

  /** Mail objects of expunged messages still kept readable (every `x:` value), for DELETE. */
  async keptExpunged(): Promise<string[]> {
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.io.omapList(this.oid, { prefix: EXPUNGED_PREFIX, startAfter: after, max: 1000 });
      for (const v of page.entries.values()) out.push(v.toString());
      if (!page.more) return out;
      after = [...page.entries.keys()].pop();
    }
  }

  /**
   * COPY `uids` into `target`, referencing the same mail objects (no bytes copied): references are
   * taken first, then one guarded commit on the target. Returns [sourceUid, targetUid] pairs.
   */
  async copyTo(uids: number[], target: Mailbox): Promise<{ pairs: [number, number][]; uidvalidity: number }> {
    const src = await this.entriesByUid(uids);
    if (!src.length) return { pairs: [], uidvalidity: (await target.counters()).uidvalidity };
    await Promise.all(src.map((e) => this.mails.retain(e.mail)));
    return target.addEntries(src);
  }

  /** Insert copies of entries (from another mailbox) with new UIDs, keeping flags and dates. */
  private async addEntries(src: IndexEntry[]): Promise<{ pairs: [number, number][]; uidvalidity: number }> {
    const now = Date.now();
    let made: IndexEntry[] = [];
    const res = await this.update('copy', [], (c) => {
      made = [];
      const counters = { ...c };
      const modseq = ++counters.highestModseq;
      const set: Record<string, string> = {};
      const pairs: [number, number][] = [];
      for (const e of src) {
        const uid = counters.uidnext++;
        const ne: IndexEntry = { ...e, uid, modseq, saveDate: now };
        set[uidKey(uid)] = JSON.stringify(ne);
        made.push(ne);
        bumpInline(counters, 1);
        counters.messages++;
        counters.bytes += ne.size;
        countFlags(counters, ne.flags, 1);
        pairs.push([e.uid, uid]);
      }
      set[logKey(modseq)] = JSON.stringify({ modseq, kind: 'append', uids: pairs.map((p) => p[1]) } satisfies LogEntry);
      return { counters, set, rm: [], result: { pairs, uidvalidity: c.uidvalidity } };
    });
    this.mails.recordRefs(this.id, made);
    return res;
  }

  /** MOVE: copy to `target`, then expunge here (RFC 6851). Same objects, no bytes copied. */
  async moveTo(uids: number[], target: Mailbox): Promise<{ pairs: [number, number][]; uidvalidity: number }> {
    const res = await this.copyTo(uids, target);
    await this.expunge(res.pairs.map((p) => p[0]));
    return res;
  }

  /**
   * Claim the UIDs not yet reported \Recent (RFC 3501 §2.3.2): the first session to learn of a
   * delivery gets them, [from, to); from = to when there was nothing to claim. One guarded write.
   */
  async claimRecent(): Promise<{ from: number; to: number; counters: Counters }> {
    let seen!: Counters;
    const r = await this.update('recent', [], (c) => {
      seen = c;
      if (c.firstRecent >= c.uidnext)
        return { counters: c, set: {}, rm: [], result: { from: c.uidnext, to: c.uidnext }, unchanged: true };
      return {
        counters: { ...c, firstRecent: c.uidnext },
        set: {},
        rm: [],
        result: { from: c.firstRecent, to: c.uidnext },
      };
    });
    return { ...r, counters: seen };
  }

  /** Messages no session has been told of yet (STATUS RECENT): those with a UID at or above firstRecent. */
  async recentCount(c: Counters): Promise<number> {
    if (c.firstRecent >= c.uidnext || !c.messages) return 0;
    return (await this.entries(c.firstRecent)).length;
  }

  /**
   * Watch the index for changes; `onChange` gets the new HIGHESTMODSEQ, or undefined when the
   * store cannot tell (the watch was re-established: anything may have changed).
   */
  async watch(onChange: (modseq: number | undefined) => void): Promise<{ unwatch(): Promise<void> }> {
    try {
      return await this.io.watch(this.oid, (ev) =>
        onChange(ev.payload.length ? Number(ev.payload.toString()) : undefined),
      );
    } catch (e) {
      throw fromStoreError(e, `watch ${this.name}`);
    }
  }
}

function dedupe(flags: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of flags) {
    const k = f.toLowerCase();
    if (!seen.has(k)) {
      seen.add(k);
      out.push(f);
    }
  }
  return out;
}

/** Apply a STORE mode to a flag list; flag names compare case-insensitively (RFC 3501 §2.3.2). */
export function applyFlags(cur: string[], mode: StoreMode, flags: string[]): string[] {
  if (mode === 'replace') return dedupe(flags);
  const lower = new Set(flags.map((f) => f.toLowerCase()));
  if (mode === 'remove') return cur.filter((f) => !lower.has(f.toLowerCase()));
  return dedupe([...cur, ...flags]);
}

function sameFlags(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => s.has(f.toLowerCase()));
}
