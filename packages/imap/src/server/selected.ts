/**
 * The selected mailbox as one session sees it (RFC 3501 §7.3-7.4): the sequence-number to UID
 * map, flags, and the updates not yet reported. Changes come from the mailbox's change log
 * (driven by watch/notify); EXPUNGE responses are held back while a command that uses sequence
 * numbers runs.
 */
import type { Counters, IndexEntry, Logger, Mailbox } from '@rmb/librmb';
import { inSet, type SeqSet, toSeqString } from '../protocol/sequence.js';
import { CommandError } from './errors.js';

/** The system flags of every mailbox (RFC 3501 §2.3.2), as FLAGS lists them. */
const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** How often a view without a watch tries to watch again, in ms. */
const WATCH_RETRY_MS = 30_000;

export class SelectedView {
  /** UIDs in sequence order (index = seq - 1). */
  uids: number[] = [];
  readonly entries = new Map<number, IndexEntry>();
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
  constructor(
    readonly mailbox: Mailbox,
    readonly readOnly: boolean,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

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
   * Load the index (SELECT): one compound read for up to 1000 messages, alongside the watch.
   * A change between the two is caught by the caller's next look at the counters (see
   * `checkCounters`). Notifications of changes this view already has (e.g. its own
   * \Recent claim) are ignored.
   */
  async load(onChange: () => void): Promise<void> {
    this.onChange = onChange;
    const [{ counters, entries }] = await Promise.all([this.mailbox.snapshot(), this.startWatch()]);
    for (const e of entries) {
      this.uids.push(e.uid);
      this.entries.set(e.uid, e);
    }
    this.modseq = counters.highestModseq;
    this.uidnext = counters.uidnext;
    this.uidvalidity = counters.uidvalidity;
    // read-only: the messages still recent for the mailbox are shown so, without claiming them
    if (this.readOnly) this.recent.push([counters.firstRecent, Infinity]);
    this.announcedExists = this.uids.length;
    this.announceKeywords(entries.map((e) => e.flags));
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
    return this.uids.filter((u) => this.isRecent(u)).length;
  }

  /** The first unseen message's sequence number, or 0. */
  firstUnseen(): number {
    const i = this.uids.findIndex((u) => !this.entries.get(u)!.flags.includes('\\Seen'));
    return i + 1;
  }

  /** Read the change log since our modseq and stage the updates. */
  async refresh(): Promise<void> {
    this.dirty = !this.watching;
    if (!this.watching && Date.now() - this.watchFailedAt > WATCH_RETRY_MS) {
      this.watchFailedAt = Date.now();
      void this.startWatch();
    }
    const { counters, log } = await this.mailbox.changesSince(this.modseq);
    if (!log.length && counters.uidnext === this.uidnext) {
      this.modseq = Math.max(this.modseq, counters.highestModseq);
      return;
    }
    const flagUids = new Set<number>();
    for (const l of log) {
      if (l.kind === 'flags') for (const u of l.uids) flagUids.add(u);
      if (l.kind === 'expunge') for (const u of l.uids) if (this.entries.has(u)) this.pendingExpunge.add(u);
    }
    if (counters.uidnext > this.uidnext) {
      const fresh = await this.mailbox.entries(this.uidnext);
      for (const e of fresh) {
        if (this.entries.has(e.uid)) continue;
        this.uids.push(e.uid);
        this.entries.set(e.uid, e);
      }
      this.uidnext = counters.uidnext;
      // a write only while another session has not claimed them first
      if (!this.readOnly && counters.firstRecent < counters.uidnext) await this.claimRecent();
    }
    const changed = [...flagUids].filter((u) => this.entries.has(u) && !this.pendingExpunge.has(u));
    for (const e of await this.mailbox.entriesByUid(changed)) {
      const old = this.entries.get(e.uid)!;
      this.entries.set(e.uid, e);
      if (old.flags.join(' ') !== e.flags.join(' ')) this.pendingFlags.add(e.uid);
    }
    this.modseq = counters.highestModseq;
  }

  /** Produce the untagged updates to send now; expunges only when `allowExpunge`. */
  flush(allowExpunge: boolean, withModseq = false, vanished = false): string[] {
    // keywords that came with other sessions' changes or new messages are announced first
    const fresh = this.uids.slice(this.announcedExists).map((u) => this.entries.get(u)?.flags ?? []);
    const changed = [...this.pendingFlags].map((u) => this.entries.get(u)?.flags ?? []);
    const out: string[] = this.announceKeywords([...fresh, ...changed]);
    for (const uid of this.pendingFlags) {
      const seq = this.uids.indexOf(uid) + 1;
      const e = this.entries.get(uid);
      if (!seq || !e) continue;
      out.push(
        `* ${seq} FETCH (UID ${uid} FLAGS (${this.flagsOf(e).join(' ')})${withModseq ? ` MODSEQ (${e.modseq})` : ''})`,
      );
    }
    this.pendingFlags.clear();
    if (allowExpunge && this.pendingExpunge.size) {
      const gone: number[] = [];
      for (const uid of [...this.pendingExpunge].sort((a, b) => b - a)) {
        const i = this.uids.indexOf(uid);
        if (i < 0) continue;
        // with QRESYNC enabled, one VANISHED response replaces the EXPUNGEs (RFC 7162 §3.2.10)
        if (!vanished) out.push(`* ${i + 1} EXPUNGE`);
        gone.push(uid);
        this.uids.splice(i, 1);
        this.entries.delete(uid);
        this.announcedExists--;
      }
      if (vanished && gone.length) out.push(`* VANISHED ${toSeqString(gone)}`);
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
    if (this.entries.has(e.uid)) this.entries.set(e.uid, e);
  }

  /**
   * Forget messages this session expunged itself and return the responses announcing it: one
   * EXPUNGE per message (RFC 3501 §7.4.1), or with QRESYNC enabled one VANISHED (RFC 7162 §3.2.10).
   */
  expungeResponses(uids: number[], qresync: boolean): string[] {
    const present = uids.filter((u) => this.entries.has(u));
    const seqs = this.removeOwn(uids);
    if (!qresync) return seqs.map((s) => `* ${s} EXPUNGE\r\n`);
    return present.length ? [`* VANISHED ${toSeqString(present.sort((a, b) => a - b))}\r\n`] : [];
  }

  /** Forget UIDs we expunged ourselves, returning the sequence numbers (descending order of removal). */
  removeOwn(uids: number[]): number[] {
    const seqs: number[] = [];
    for (const uid of [...uids].sort((a, b) => b - a)) {
      const i = this.uids.indexOf(uid);
      if (i < 0) continue;
      seqs.push(i + 1);
      this.uids.splice(i, 1);
      this.entries.delete(uid);
      this.pendingExpunge.delete(uid);
      this.announcedExists--;
    }
    return seqs;
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
    const out: [number, number][] = [];
    if (byUid) {
      const max = this.uids.length ? this.uids[this.uids.length - 1] : 0;
      this.uids.forEach((u, i) => {
        if (inSet(set, u, max)) out.push([i + 1, u]);
      });
      if (!out.length && max) {
        // "n:*" always includes the highest UID (RFC 3501 §6.4.8)
        if (set.ranges.some(([, b]) => b === Infinity)) out.push([this.uids.length, max]);
      }
      return out;
    }
    const n = this.uids.length;
    for (const [a, b] of set.ranges) {
      for (const x of [a, b])
        if (x !== Infinity && x > n) throw new CommandError('BAD', null, 'Invalid message sequence number');
      if (!n && (a === Infinity || b === Infinity)) throw new CommandError('BAD', null, 'No messages');
    }
    this.uids.forEach((u, i) => {
      if (inSet(set, i + 1, n)) out.push([i + 1, u]);
    });
    return out;
  }
}
