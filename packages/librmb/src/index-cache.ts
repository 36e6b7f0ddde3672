/**
 * A per-process copy of mailbox indexes, shared by every session that selects the mailbox
 * (issue 14, ADR 0018). SELECT no longer reads every index entry: a mailbox already in the cache
 * is brought up to date from its change log (one read when nothing changed), and sessions keep
 * only their own sequence-number map (a UID array) and the few entries they still show after
 * another session expunged them. Entries are immutable objects replaced on change, so a session
 * holding one never sees it change under it.
 */
import type { Mailbox } from './mailbox.js';
import type { Counters, IndexEntry, LogEntry } from './types.js';

/** Index of the first element of sorted `a` that is >= x (a.length when none). */
export function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of `x` in sorted `a`, or -1. */
export function indexOfSorted(a: readonly number[], x: number): number {
  const i = lowerBound(a, x);
  return i < a.length && a[i] === x ? i : -1;
}

/**
 * Remove `drop` from sorted `a` in place: one splice per UID when they are few (a memmove each),
 * one pass over the array otherwise.
 */
export function removeSorted(a: number[], drop: Set<number>): void {
  if (!drop.size) return;
  if (drop.size <= 32) {
    for (const u of drop) {
      const i = indexOfSorted(a, u);
      if (i >= 0) a.splice(i, 1);
    }
    return;
  }
  let w = 0;
  for (let r = 0; r < a.length; r++) if (!drop.has(a[r])) a[w++] = a[r];
  a.length = w;
}

/** What the cache needs of a session's view: the modseq up to which it has taken changes. */
export interface CacheReader {
  readonly modseq: number;
}

/** A counter of cache uses, for least-recently-used eviction. */
let uses = 0;

/** How many change-log records a cache keeps in memory for views catching up (older ones are read from the store). */
const LOG_KEPT = 20_000;

/** The shared index of one mailbox, as of `modseq`. */
export class CachedIndex {
  /** UIDs present, ascending. */
  readonly uids: number[] = [];
  readonly entries = new Map<number, IndexEntry>();
  /** Entries expunged while some view may still show them: uid -> [entry, modseq of the expunge]. */
  private readonly gone = new Map<number, [IndexEntry, number]>();
  /** UIDs present whose entry has \Deleted (EXPUNGE's targets, found without a scan). */
  readonly deleted = new Set<number>();
  /** Keywords of every entry seen (lower case -> as first seen). */
  readonly keywords = new Map<string, string>();
  /** Change-log records with modseq > logFloor, ascending. */
  private log: LogEntry[] = [];
  private logFloor = 0;
  counters: Counters | undefined;
  modseq = 0;
  uidvalidity = 0;
  readonly readers = new Set<CacheReader>();
  /** When a view last used it, in uses counted across caches (eviction of idle caches). */
  lastUsed = ++uses;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  private firstUnseenMemo: number | undefined;

  constructor(private mailbox: Mailbox) {}

  get size(): number {
    return this.uids.length;
  }

  /** The entry of `uid`, also when it was expunged but a view may still show it. */
  entry(uid: number): IndexEntry | undefined {
    return this.entries.get(uid) ?? this.gone.get(uid)?.[0];
  }

  /**
   * Bring the cache up to date with the store: the whole index on first use (or after a
   * UIDVALIDITY change), else the change log since `modseq`. Concurrent calls share one read; a
   * call made while a read runs waits for a read that starts after it. `via`: a handle on the
   * same mailbox (the cache keeps the most recent one). Throws the store's errors.
   */
  sync(via?: Mailbox): Promise<void> {
    if (via) this.mailbox = via;
    this.lastUsed = ++uses;
    if (this.running) {
      this.queued ??= this.running.then(() => {
        this.queued = undefined;
        return this.sync();
      });
      return this.queued;
    }
    this.running = this.load().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async load(): Promise<void> {
    if (!this.counters) return this.loadAll();
    const { counters, log, complete } = await this.mailbox.changesSince(this.modseq);
    // a log trimmed past what this cache has seen: read the mailbox whole again
    if (counters.uidvalidity !== this.uidvalidity || !complete) return this.loadAll();
    const seen = this.uidnextSeen;
    this.counters = counters;
    if (!log.length && counters.uidnext <= seen && counters.highestModseq <= this.modseq) return;
    const flagUids = new Set<number>();
    const expunged = new Set<number>();
    for (const l of log) {
      if (l.kind === 'flags') for (const u of l.uids) flagUids.add(u);
      if (l.kind === 'expunge') {
        for (const u of l.uids) {
          const e = this.entries.get(u);
          if (!e) continue;
          expunged.add(u);
          this.entries.delete(u);
          this.deleted.delete(u);
          this.gone.set(u, [e, l.modseq]);
        }
      }
    }
    removeSorted(this.uids, expunged);
    if (counters.uidnext > seen) {
      for (const e of await this.mailbox.entries(seen)) this.add(e);
    }
    const changed = [...flagUids].filter((u) => this.entries.has(u));
    for (const e of await this.mailbox.entriesByUid(changed)) this.put(e);
    this.firstUnseenMemo = undefined;
    for (const l of log) this.log.push(l); // not push(...log): a long log overflows the stack
    // a log read over several pages may end past the counters read with its first page
    this.modseq = Math.max(this.modseq, counters.highestModseq, log[log.length - 1]?.modseq ?? 0);
    this.trim();
  }

  private async loadAll(): Promise<void> {
    const { counters, entries } = await this.mailbox.snapshot();
    this.uids.length = 0;
    this.entries.clear();
    this.deleted.clear();
    this.gone.clear();
    this.log = [];
    for (const e of entries) this.add(e);
    this.counters = counters;
    this.modseq = counters.highestModseq;
    this.logFloor = this.modseq;
    this.uidvalidity = counters.uidvalidity;
    this.firstUnseenMemo = undefined;
  }

  /** The UIDNEXT the cache has read up to (entries read ahead of the counters included). */
  private get uidnextSeen(): number {
    let last = this.uids[this.uids.length - 1] ?? 0;
    for (const u of this.gone.keys()) last = Math.max(last, u);
    return Math.max(this.counters?.uidnext ?? 1, last + 1);
  }

  private add(e: IndexEntry): void {
    if (this.entries.has(e.uid) || this.gone.has(e.uid)) return;
    if (this.uids.length && e.uid < this.uids[this.uids.length - 1]) return; // never reorders
    this.uids.push(e.uid);
    this.entries.set(e.uid, e);
    this.learn(e);
  }

  /**
   * Take a newer version of an entry (a session's own STORE, or one read from the store); an
   * older one than held is ignored.
   */
  put(e: IndexEntry): void {
    const cur = this.entries.get(e.uid);
    if (!cur || cur.modseq > e.modseq) return;
    this.entries.set(e.uid, e);
    this.learn(e);
    this.firstUnseenMemo = undefined;
  }

  /** Note the keywords and the \Deleted flag of a present entry. */
  private learn(e: IndexEntry): void {
    if (e.flags.includes('\\Deleted')) this.deleted.add(e.uid);
    else this.deleted.delete(e.uid);
    for (const f of e.flags) {
      if (f.startsWith('\\')) continue;
      const k = f.toLowerCase();
      if (!this.keywords.has(k)) this.keywords.set(k, f);
    }
  }

  /**
   * The change-log records with modseq > since, or undefined when the cache no longer holds them
   * all (the caller reads them from the store).
   */
  logSince(since: number): LogEntry[] | undefined {
    if (since < this.logFloor) return undefined;
    let i = this.log.length;
    while (i > 0 && this.log[i - 1].modseq > since) i--;
    return this.log.slice(i);
  }

  /** The UID of the first message without \Seen, or 0 (memoized until the next change). */
  firstUnseenUid(): number {
    if (this.firstUnseenMemo === undefined) {
      this.firstUnseenMemo = 0;
      for (const u of this.uids) {
        if (!this.entries.get(u)!.flags.includes('\\Seen')) {
          this.firstUnseenMemo = u;
          break;
        }
      }
    }
    return this.firstUnseenMemo;
  }

  /** Drop log records and expunged entries every reader has taken. */
  trim(): void {
    let floor = this.modseq;
    for (const r of this.readers) floor = Math.min(floor, r.modseq);
    for (const [u, [, m]] of this.gone) if (m <= floor) this.gone.delete(u);
    let cut = 0;
    while (cut < this.log.length && (this.log[cut].modseq <= floor || this.log.length - cut > LOG_KEPT)) cut++;
    if (cut) {
      this.logFloor = this.log[cut - 1].modseq;
      this.log = this.log.slice(cut);
    }
  }
}

/**
 * The caches of one MailStore, by mailbox id. A cache with readers stays; idle ones are kept,
 * most recently used first, while the messages they hold stay within `maxMessages`.
 */
export class IndexCaches {
  private readonly caches = new Map<string, CachedIndex>();

  /** `maxMessages`: bound on the messages held by idle caches (store.indexCacheMessages). */
  constructor(private readonly maxMessages: number) {}

  /** The cache of `mailbox` (made empty on first use; call sync()). */
  of(mailbox: Mailbox): CachedIndex {
    let c = this.caches.get(mailbox.id);
    if (!c) {
      c = new CachedIndex(mailbox);
      this.caches.set(mailbox.id, c);
    }
    return c;
  }

  /** Register a reader (a selected view) of `c`. */
  attach(c: CachedIndex, r: CacheReader): void {
    c.readers.add(r);
    c.lastUsed = ++uses;
  }

  /**
   * A reader is done with `c`; idle caches beyond the bound are dropped, least recently used first.
   * The most recently used one always stays, even alone beyond the bound: a mailbox larger than the
   * bound would otherwise be read whole again by every SELECT after its last session left.
   */
  detach(c: CachedIndex, r: CacheReader): void {
    c.readers.delete(r);
    c.lastUsed = ++uses;
    c.trim();
    this.evict();
  }

  private evict(): void {
    const idle = [...this.caches.entries()]
      .filter(([, c]) => !c.readers.size)
      .sort((a, b) => b[1].lastUsed - a[1].lastUsed);
    let held = 0;
    idle.forEach(([id, c], i) => {
      held += c.size;
      if (held > this.maxMessages && i > 0) this.caches.delete(id);
    });
  }

  /** Messages held by all caches (for tests and metrics). */
  get messages(): number {
    let n = 0;
    for (const c of this.caches.values()) n += c.size;
    return n;
  }
}
