/**
 * The selected mailbox as one session sees it (RFC 3501 §7.3-7.4): the sequence-number to UID
 * map, flags, and the updates not yet reported. Changes come from the mailbox's change log
 * (driven by watch/notify); EXPUNGE responses are held back while a command that uses sequence
 * numbers runs. The index entries themselves live in the process's shared cache (CachedIndex,
 * ADR 0018): a view holds its UIDs in sequence order and the entries it still shows after the
 * cache let them go (expunged by another session, not yet announced here).
 */
import {
  type CachedIndex,
  type Counters,
  type IndexEntry,
  type LogEntry,
  IndexCaches,
  indexOfSorted,
  type Logger,
  lowerBound,
  type Mailbox,
  removeSorted,
} from '@rmb/librmb';
import { type SeqSet, toSeqString } from '../protocol/sequence.js';
import { CommandError } from './errors.js';

/** The system flags of every mailbox (RFC 3501 §2.3.2), as FLAGS lists them. */
const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** How often a view without a watch tries to watch again, in ms. */
const WATCH_RETRY_MS = 30_000;

/** A view's entries by UID (only the UIDs in the view). */
export interface ViewEntries {
  get(uid: number): IndexEntry | undefined;
  has(uid: number): boolean;
  values(): IterableIterator<IndexEntry>;
}

export class SelectedView {
  /** UIDs in sequence order (index = seq - 1), ascending. */
  uids: number[] = [];
  /** The entries of the view's messages, read through the shared cache. */
  readonly entries: ViewEntries;
  /** Entries this view still shows that the cache dropped (expunged elsewhere, not yet announced). */
  private readonly held = new Map<number, IndexEntry>();
  /** Changes this session made and reported itself: uid -> modseq (not reported again from the log). */
  private readonly own = new Map<number, number>();
  /** The highest UID ever in this view. */
  private maxUid = 0;
  private cache!: CachedIndex;
  private readonly caches: IndexCaches;
  modseq = 0;
  uidnext = 1;
  uidvalidity = 0;
  dirty = false;
  private pendingExpunge = new Set<number>();
  private pendingFlags = new Set<number>();
  private announcedExists = 0;
  /** Saved search result (SEARCHRES), UIDs. */
  saved: number[] = [];
  private unwatch?: () => Promise<void>;

  /** `log`: where a failed watch is reported (pino-compatible). */
  /** `caches`: the process's shared index caches (the store's); a private one when not given. */
  constructor(
    readonly mailbox: Mailbox,
    readonly readOnly: boolean,
    private readonly log?: Pick<Logger, 'warn'>,
    caches?: IndexCaches,
  ) {
    this.caches = caches ?? new IndexCaches(0);
    const get = (uid: number): IndexEntry | undefined =>
      this.has(uid) ? (this.held.get(uid) ?? this.cache.entry(uid)) : undefined;
    // the view's own UIDs need no membership test
    const own = (uid: number): IndexEntry | undefined => this.held.get(uid) ?? this.cache.entry(uid);
    const uids = () => this.uids;
    this.entries = {
      get,
      has: (uid) => this.has(uid),
      *values() {
        for (const u of uids()) {
          const e = own(u);
          if (e) yield e;
        }
      },
    };
  }

  /**
   * UIDs in the view whose entry has \Deleted, ascending (EXPUNGE's targets): the cache's set
   * of them, and the entries the view still holds.
   */
  deletedUids(): number[] {
    const out = [...this.cache.deleted].filter((u) => this.has(u) && !this.held.has(u));
    for (const [u, e] of this.held) if (e.flags.includes('\\Deleted')) out.push(u);
    return out.sort((a, b) => a - b);
  }

  /** Whether `uid` is in the view (binary search). */
  has(uid: number): boolean {
    return indexOfSorted(this.uids, uid) >= 0;
  }

  /** The sequence number of `uid`, or 0. */
  seqOf(uid: number): number {
    return indexOfSorted(this.uids, uid) + 1;
  }

  /** Keywords announced to the client in FLAGS (lower case -> as first seen). */
  private readonly keywords = new Map<string, string>();

  /**
   * The FLAGS and PERMANENTFLAGS responses (without CRLF) for the flags known now: the system
   * flags and every keyword announced (RFC 3501 §7.2.6, §7.1); PERMANENTFLAGS is empty when
   * read-only and allows new keywords (\\*) otherwise.
   */
  flagsResponses(): string[] {
    const flags = [...SYSTEM_FLAGS, ...this.keywords.values()].join(' ');
    return [`* FLAGS (${flags})`, `* OK [PERMANENTFLAGS (${this.readOnly ? '' : `${flags} \\*`})] Flags permitted.`];
  }

  /**
   * Learn the keywords of `flagLists`. Returns the FLAGS/PERMANENTFLAGS responses to send before
   * any response that uses one of them when one is new (RFC 3501 §7.2.6, RFC 9051 §7.3.5: the
   * client must have heard of a keyword before a FETCH shows it), else nothing.
   */
  announceKeywords(flagLists: Iterable<string[]>): string[] {
    let fresh = false;
    for (const flags of flagLists) {
      for (const f of flags) {
        if (f.startsWith('\\') || this.keywords.has(f.toLowerCase())) continue;
        this.keywords.set(f.toLowerCase(), f);
        fresh = true;
      }
    }
    return fresh ? this.flagsResponses() : [];
  }

  /**
   * Load the index (SELECT), alongside the watch: the shared cache is brought up to date (the
   * whole index when the process does not hold it yet, else the change log since) and its UIDs
   * copied. A change between the two is caught by the caller's next look at the counters (see
   * `checkCounters`). Notifications of changes this view already has (e.g. its own \Recent
   * claim) are ignored.
   */
  async load(onChange: () => void): Promise<void> {
    this.onChange = onChange;
    this.cache = this.caches.of(this.mailbox);
    this.caches.attach(this.cache, this);
    await Promise.all([this.cache.sync(this.mailbox), this.startWatch()]);
    const counters = this.cache.counters!;
    this.uids = this.cache.uids.slice();
    this.maxUid = this.uids[this.uids.length - 1] ?? 0;
    this.modseq = this.cache.modseq;
    this.uidnext = Math.max(counters.uidnext, this.maxUid + 1);
    this.uidvalidity = counters.uidvalidity;
    // read-only: the messages still recent for the mailbox are shown so, without claiming them
    if (this.readOnly) this.recent.push([counters.firstRecent, Infinity]);
    this.announcedExists = this.uids.length;
    this.announceKeywords([[...this.cache.keywords.values()]]);
  }

  private onChange: () => void = () => undefined;
  /** When the last watch attempt failed (ms since epoch), or 0 while watching. */
  private watchFailedAt = 0;

  /**
   * Watch the index. A failure (e.g. a full or unreachable cluster) does not fail SELECT: the
   * view then refreshes on every command and IDLE polls (`watching` is false), and the watch is
   * tried again at most every WATCH_RETRY_MS.
   */
  private async startWatch(): Promise<void> {
    try {
      const w = await this.mailbox.watch((modseq) => {
        if (modseq !== undefined && modseq <= this.modseq) return;
        this.dirty = true;
        this.onChange();
      });
      if (this.closed) {
        await w.unwatch();
        return;
      }
      this.unwatch = () => w.unwatch();
      this.watchFailedAt = 0;
    } catch (e) {
      // no watch (a full or unreachable cluster): the view polls, and tries again later
      this.log?.warn({ err: e, mailbox: this.mailbox.name }, 'watch failed; polling the mailbox instead');
      this.watchFailedAt = Date.now();
      this.dirty = true;
    }
  }

  /** False while the view has no watch: changes are then only seen by polling. */
  get watching(): boolean {
    return this.watchFailedAt === 0;
  }

  /** Mark the view for refresh when `c` (read after load) shows changes it does not have. */
  checkCounters(c: Counters): void {
    if (c.highestModseq !== this.modseq || c.uidnext !== this.uidnext) this.dirty = true;
  }

  private closed = false;
  async close(): Promise<void> {
    this.closed = true;
    if (this.cache) this.caches.detach(this.cache, this);
    await this.unwatch?.();
  }

  get exists(): number {
    return this.uids.length;
  }
  /** UID ranges [from, to) this session sees as \Recent (RFC 3501 §2.3.2). */
  private readonly recent: [number, number][] = [];

  /** Whether this session reports `uid` as \Recent (never under IMAP4rev2). */
  isRecent(uid: number): boolean {
    return !this.noRecent && this.recent.some(([a, b]) => uid >= a && uid < b);
  }

  /**
   * Claim, for this session alone, the messages no session has been told of yet (RFC 3501 §2.3.2:
   * exactly one session sees a message as \Recent), one guarded index write; done by SELECT and
   * whenever a read-write view learns of new messages. Returns the counters read by the claim.
   */
  async claimRecent(): Promise<Counters> {
    const r = await this.mailbox.claimRecent();
    if (r.to > r.from) this.recent.push([r.from, r.to]);
    return r.counters;
  }

  get recentCount(): number {
    if (this.noRecent) return 0;
    // the recent ranges may overlap: count each UID once
    const seen = new Set<number>();
    for (const [a, b] of this.recent) {
      for (let i = lowerBound(this.uids, a); i < this.uids.length && this.uids[i] < b; i++) seen.add(this.uids[i]);
    }
    return seen.size;
  }

  /** The first unseen message's sequence number, or 0. */
  firstUnseen(): number {
    const c = this.cache;
    if (this.uids.length === c.uids.length && this.maxUid === (c.uids[c.uids.length - 1] ?? 0) && !this.held.size) {
      const u = c.firstUnseenUid();
      return u ? this.seqOf(u) : 0;
    }
    const i = this.uids.findIndex((u) => !this.entries.get(u)!.flags.includes('\\Seen'));
    return i + 1;
  }

  /**
   * Bring the shared cache up to date and stage the updates this view has not reported: flag
   * changes, expunges (held until they may be announced), new messages.
   */
  async refresh(): Promise<void> {
    this.dirty = !this.watching;
    if (!this.watching && Date.now() - this.watchFailedAt > WATCH_RETRY_MS) {
      this.watchFailedAt = Date.now();
      void this.startWatch();
    }
    const c = this.cache;
    await c.sync(this.mailbox);
    // the cache as of now: other sessions may sync it further while this refresh awaits below
    const counters = c.counters!;
    const upTo = c.modseq;
    const fresh = c.uids.slice(lowerBound(c.uids, this.maxUid + 1));
    const log = c.logSince(this.modseq) ?? (await this.storeLog(c, upTo));
    for (const l of log) {
      if (l.kind === 'expunge') {
        for (const u of l.uids) {
          if (!this.has(u) || this.pendingExpunge.has(u)) continue;
          this.pendingExpunge.add(u);
          const e = c.entry(u);
          if (e) this.held.set(u, e);
        }
      } else if (l.kind === 'flags') {
        for (const u of l.uids) {
          if ((this.own.get(u) ?? 0) >= l.modseq || this.pendingExpunge.has(u) || !this.has(u)) continue;
          this.pendingFlags.add(u);
        }
      }
    }
    if (fresh.length) {
      for (const u of fresh) this.uids.push(u);
      this.maxUid = this.uids[this.uids.length - 1];
      this.uidnext = Math.max(counters.uidnext, this.maxUid + 1);
      // a write only while another session has not claimed them first
      if (!this.readOnly && counters.firstRecent < counters.uidnext) await this.claimRecent();
    } else this.uidnext = Math.max(this.uidnext, counters.uidnext);
    this.modseq = Math.max(this.modseq, upTo);
    for (const [u, m] of this.own) if (m <= this.modseq) this.own.delete(u);
    c.trim();
  }

  /**
   * The changes since this view's modseq up to `upTo`, from the store's change log; when the log
   * was trimmed past this view (log-trim.ts), made up from the cache: every UID shown that the
   * index no longer has was expunged, every entry changed since had its flags changed.
   */
  private async storeLog(c: CachedIndex, upTo: number): Promise<LogEntry[]> {
    const r = await this.mailbox.changesSince(this.modseq);
    if (r.complete) return r.log.filter((l) => l.modseq <= upTo);
    const gone = this.uids.filter((u) => !c.entries.has(u));
    const changed = c.uids.filter((u) => u <= this.maxUid && c.entries.get(u)!.modseq > this.modseq);
    return [
      { modseq: upTo, kind: 'expunge', uids: gone },
      { modseq: upTo, kind: 'flags', uids: changed },
    ];
  }

  /** Produce the untagged updates to send now; expunges only when `allowExpunge`. */
  flush(allowExpunge: boolean, withModseq = false, vanished = false): string[] {
    // keywords that came with other sessions' changes or new messages are announced first
    const fresh = this.uids.slice(this.announcedExists).map((u) => this.entries.get(u)?.flags ?? []);
    const changed = [...this.pendingFlags].map((u) => this.entries.get(u)?.flags ?? []);
    const out: string[] = this.announceKeywords([...fresh, ...changed]);
    for (const uid of this.pendingFlags) {
      const seq = this.seqOf(uid);
      const e = this.entries.get(uid);
      if (!seq || !e) continue;
      out.push(
        `* ${seq} FETCH (UID ${uid} FLAGS (${this.flagsOf(e).join(' ')})${withModseq ? ` MODSEQ (${e.modseq})` : ''})`,
      );
    }
    this.pendingFlags.clear();
    if (allowExpunge && this.pendingExpunge.size) {
      const seqs = this.remove([...this.pendingExpunge]);
      // with QRESYNC enabled, one VANISHED response replaces the EXPUNGEs (RFC 7162 §3.2.10)
      if (!vanished) for (const [seq] of seqs) out.push(`* ${seq} EXPUNGE`);
      if (vanished && seqs.length) out.push(`* VANISHED ${toSeqString(seqs.map(([, u]) => u))}`);
      this.pendingExpunge.clear();
    }
    if (this.uids.length !== this.announcedExists) {
      if (this.uids.length > this.announcedExists) {
        out.push(`* ${this.uids.length} EXISTS`);
        const r = this.recentCount;
        if (r && !this.noRecent) out.push(`* ${r} RECENT`);
      }
      this.announcedExists = this.uids.length;
    }
    return out;
  }

  /** IMAP4rev2 is enabled: no \Recent flag and no RECENT responses (RFC 9051 Appendix E). */
  noRecent = false;

  /** Flags to show for a message, with \Recent for this session's recent messages (not under IMAP4rev2). */
  flagsOf(e: IndexEntry): string[] {
    return this.isRecent(e.uid) ? [...e.flags, '\\Recent'] : e.flags;
  }

  /** Record our own change of an entry (after STORE), so no duplicate update is sent. */
  update(e: IndexEntry): void {
    if (!this.has(e.uid)) return;
    if (this.held.has(e.uid)) this.held.set(e.uid, e);
    else this.cache.put(e);
    this.own.set(e.uid, Math.max(this.own.get(e.uid) ?? 0, e.modseq));
  }

  /**
   * Take `uids` out of the view. Returns [seq, uid] of those present, in the order they were
   * removed (descending: each sequence number is valid at its removal, RFC 3501 §7.4.1).
   */
  private remove(uids: number[]): [number, number][] {
    const out: [number, number][] = [];
    for (const uid of [...new Set(uids)].sort((a, b) => b - a)) {
      const i = indexOfSorted(this.uids, uid);
      if (i >= 0) out.push([i + 1, uid]);
    }
    if (!out.length) return out;
    const drop = new Set(out.map(([, u]) => u));
    removeSorted(this.uids, drop);
    for (const u of drop) {
      this.held.delete(u);
      this.pendingExpunge.delete(u);
      this.pendingFlags.delete(u);
    }
    this.announcedExists -= out.length;
    return out;
  }

  /**
   * Forget messages this session expunged itself and return the responses announcing it: one
   * EXPUNGE per message (RFC 3501 §7.4.1), or with QRESYNC enabled one VANISHED (RFC 7162 §3.2.10).
   */
  expungeResponses(uids: number[], qresync: boolean): string[] {
    const present = uids.filter((u) => this.has(u));
    const seqs = this.removeOwn(uids);
    if (!qresync) return seqs.map((s) => `* ${s} EXPUNGE\r\n`);
    return present.length ? [`* VANISHED ${toSeqString(present.sort((a, b) => a - b))}\r\n`] : [];
  }

  /** Forget UIDs we expunged ourselves, returning the sequence numbers (descending order of removal). */
  removeOwn(uids: number[]): number[] {
    return this.remove(uids).map(([seq]) => seq);
  }

  /**
   * Resolve a sequence set (or UID set when `byUid`) to [seq, uid] pairs in ascending order.
   * Non-UID sets naming numbers beyond EXISTS are an error (RFC 3501 §9: BAD); UID sets ignore misses.
   */
  resolve(set: SeqSet, byUid: boolean): [number, number][] {
    if ('saved' in set) {
      const s = new Set(this.saved);
      return this.uids.map((u, i): [number, number] => [i + 1, u]).filter(([, u]) => s.has(u));
    }
    const n = this.uids.length;
    // each range as [first index, last index + 1) into uids, then merged in order
    const spans: [number, number][] = [];
    if (byUid) {
      const max = n ? this.uids[n - 1] : 0;
      for (const [a, b] of set.ranges) {
        const lo = Math.min(a === Infinity ? max : a, b === Infinity ? max : b);
        const hi = Math.max(a === Infinity ? max : a, b === Infinity ? max : b);
        spans.push([lowerBound(this.uids, lo), lowerBound(this.uids, hi + 1)]);
      }
    } else {
      for (const [a, b] of set.ranges) {
        for (const x of [a, b])
          if (x !== Infinity && x > n) throw new CommandError('BAD', null, 'Invalid message sequence number');
        if (!n && (a === Infinity || b === Infinity)) throw new CommandError('BAD', null, 'No messages');
        const lo = Math.min(a === Infinity ? n : a, b === Infinity ? n : b);
        const hi = Math.max(a === Infinity ? n : a, b === Infinity ? n : b);
        spans.push([lo - 1, hi]);
      }
    }
    spans.sort((x, y) => x[0] - y[0]);
    const out: [number, number][] = [];
    let next = 0;
    for (const [from, to] of spans) {
      for (let i = Math.max(from, next); i < to; i++) out.push([i + 1, this.uids[i]]);
      next = Math.max(next, to);
    }
    if (byUid && !out.length && n) {
      // "n:*" always includes the highest UID (RFC 3501 §6.4.8)
      if (set.ranges.some(([, b]) => b === Infinity)) out.push([n, this.uids[n - 1]]);
    }
    return out;
  }
}
