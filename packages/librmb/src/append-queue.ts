/**
 * Group commit of appends to one mailbox index within a process. Concurrent saves into the same
 * mailbox (many LMTP deliveries to one INBOX, parallel APPENDs) would otherwise each read the
 * counters and race for the guarded commit, and all but one would retry. Here the saves whose
 * mail objects are written join one guarded commit: UIDs in arrival order, one modseq and one
 * change-log record per batch. The first counter read still overlaps the object writes, so a
 * lone save keeps its two serial round trips. Other processes are still handled by the guard.
 */
import type { Counters, IndexEntry, LogEntry, SavedMessage } from './types.js';
import { countFlags } from './counters.js';
import { logKey, uidKey } from './layout.js';
import { bumpInline } from './index-shards.js';

/** One save waiting for its commit. */
export interface PendingSave {
  /** Resolves once its mail objects are written (and its mailbox confirmed); rejects otherwise. */
  ready: Promise<void>;
  /** The index entries to add, without uid and modseq. */
  entries: Omit<IndexEntry, 'uid' | 'modseq'>[];
  resolve(saved: SavedMessage[]): void;
  reject(e: unknown): void;
}

interface Member extends PendingSave {
  isReady: boolean;
  failed: boolean;
  error?: unknown;
  settled: Promise<void>;
  /** What this save gets if the plan it was last put in is committed. */
  planned?: SavedMessage[];
}

/** The shape of a planned index change (see Mailbox.update). */
export interface AppendPlan {
  counters: Counters;
  set: Record<string, string>;
  rm: string[];
  result: Member[];
  unchanged?: boolean;
}

/** The commit function a queue drives: Mailbox.update with a plan built from the ready saves. */
export type Committer = (plan: (c: Counters) => AppendPlan, before: Promise<unknown>) => Promise<Member[]>;

/** Appends waiting for one mailbox's index (one queue per index object and process). */
export class AppendQueue {
  private waiting: Member[] = [];
  private running = false;
  constructor(private readonly onIdle: () => void) {}

  /** Add a save; it is committed with whatever else is ready when its turn comes. */
  enqueue(save: PendingSave, commit: Committer): void {
    const m = save as Member;
    m.isReady = false;
    m.failed = false;
    m.settled = save.ready.then(
      () => {
        m.isReady = true;
      },
      (e) => {
        m.failed = true;
        m.error = e;
      },
    );
    this.waiting.push(m);
    if (!this.running) void this.run(commit);
  }

  private async run(commit: Committer): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length) {
        let batch: Member[] = [];
        const before = Promise.race(this.waiting.map((m) => m.settled));
        try {
          batch = await commit((c) => this.plan(c), before);
          for (const m of batch) m.resolve(m.planned!);
        } catch (e) {
          // the commit failed (not a lost race: those are retried inside): fail what it carried,
          // and the saves whose own writes failed meanwhile (plan() did not get to them). It may
          // have failed before any save was ready (e.g. the index object is gone): wait for one,
          // or this loop would spin without ever yielding to I/O.
          await before;
          const done = this.waiting.filter((m) => m.isReady || m.failed);
          this.waiting = this.waiting.filter((m) => !m.isReady && !m.failed);
          for (const m of done) m.reject(m.failed ? m.error : e);
          continue;
        }
        this.waiting = this.waiting.filter((m) => !batch.includes(m));
      }
    } finally {
      this.running = false;
      if (!this.waiting.length) this.onIdle();
    }
  }

  /** Counters after adding every ready save; the failed ones are dropped here. */
  private plan(c: Counters): AppendPlan {
    for (const m of this.waiting.filter((x) => x.failed)) m.reject(m.error);
    this.waiting = this.waiting.filter((x) => !x.failed);
    const ready = this.waiting.filter((x) => x.isReady);
    if (!ready.length) return { counters: c, set: {}, rm: [], result: [], unchanged: true };
    const counters = { ...c };
    const modseq = ++counters.highestModseq;
    const set: Record<string, string> = {};
    const uids: number[] = [];
    for (const m of ready) {
      const saved: SavedMessage[] = [];
      for (const e of m.entries) {
        const uid = counters.uidnext++;
        const entry: IndexEntry = { ...e, uid, modseq };
        set[uidKey(uid)] = JSON.stringify(entry);
        bumpInline(counters, 1);
        counters.messages++;
        counters.bytes += entry.size;
        countFlags(counters, entry.flags, 1);
        uids.push(uid);
        saved.push({ uid, uidvalidity: c.uidvalidity, mail: entry.mail, modseq });
      }
      m.planned = saved;
    }
    set[logKey(modseq)] = JSON.stringify({ modseq, kind: 'append', uids } satisfies LogEntry);
    return { counters, set, rm: [], result: ready };
  }
}

/** One queue per index object in this process (ids are UUIDs: no clash across clusters). */
const queues = new Map<string, AppendQueue>();

/** The queue of index object `key`; dropped when idle. */
export function appendQueue(key: string): AppendQueue {
  let q = queues.get(key);
  if (!q) {
    q = new AppendQueue(() => queues.delete(key));
    queues.set(key, q);
  }
  return q;
}
