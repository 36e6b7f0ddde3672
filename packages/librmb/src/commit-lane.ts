/**
 * Group commit of every index change to one mailbox within a process (issue 14 item 2).
 *
 * Sessions that change one mailbox at once (a phone and a desktop, many LMTP deliveries, STORE and
 * EXPUNGE from several clients) each read the counters `h` and raced for the commit guarded by
 * omap_cmp(h); all but one lost, backed off and retried. Here the changes of a process go through
 * one lane per index object: while a commit is in flight the next changes wait, and then all of
 * them are planned one after another on the same read (each plan sees the counters and keys the
 * plans before it produced) and written in ONE guarded op. Other processes and nodes are still
 * handled by the guard: a lost race re-plans the whole batch. A plan that throws fails only its
 * own change.
 */
import { WriteOp, type IoCtx } from '@rmb/rados';
import type { Counters } from './types.js';
import { COUNTERS_KEY } from './layout.js';
import { withRetry } from './retry.js';

/** A planned index change (see Mailbox.update). */
export interface Plan<T> {
  counters: Counters;
  set: Record<string, string>;
  rm: string[];
  result: T;
  /** Nothing to write (the result stands as it is). */
  unchanged?: boolean;
}

/** One change waiting in a lane. */
interface Change {
  keys: string[];
  plan: (c: Counters, got: Map<string, Buffer>) => Plan<unknown>;
  before?: Promise<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** Counters of what the lanes did, for benchmarks and tests: commits, changes, lost races. */
export const laneStats = { commits: 0, changes: 0, retries: 0 };

/** The changes waiting for one index object of this process. */
class Lane {
  private waiting: Change[] = [];
  private running = false;

  constructor(
    private readonly io: IoCtx,
    private readonly oid: string,
    private readonly onIdle: () => void,
    private readonly after: (c: Counters) => void,
  ) {}

  submit<T>(keys: string[], plan: (c: Counters, got: Map<string, Buffer>) => Plan<T>, before?: Promise<unknown>) {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ keys, plan, before, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting;
        this.waiting = [];
        await this.commit(batch);
      }
    } finally {
      this.running = false;
      this.onIdle();
    }
  }

  /** Plan every change of `batch` on one read and write them in one guarded op; retried on a lost race. */
  private async commit(batch: Change[]): Promise<void> {
    const keys = [...new Set([COUNTERS_KEY, ...batch.flatMap((c) => c.keys)])];
    // the changes still to commit: one whose plan threw is failed and left out of later attempts
    let live = batch;
    try {
      await withRetry('index commit', async (n) => {
        if (n) laneStats.retries++;
        const read = this.io.omapGetByKeys(this.oid, keys);
        // the first read overlaps what the changes wait for (their mail objects' writes)
        const waits = n === 0 ? batch.map((c) => c.before?.catch(() => undefined)) : [];
        const [got] = await Promise.all([read, ...waits]);
        const raw = got.get(COUNTERS_KEY);
        if (!raw) throw new Error(`index ${this.oid} has no counters`);
        let counters = JSON.parse(raw.toString()) as Counters;
        const view = new Map(got);
        const set: Record<string, string> = {};
        const rm = new Set<string>();
        const results: [Change, unknown][] = [];
        let changed = false;
        const planned: Change[] = [];
        for (const c of live) {
          let p: Plan<unknown>;
          try {
            p = c.plan(counters, view);
          } catch (e) {
            c.reject(e);
            continue;
          }
          planned.push(c);
          results.push([c, p.result]);
          if (p.unchanged) continue;
          changed = true;
          counters = p.counters;
          for (const [k, v] of Object.entries(p.set)) {
            set[k] = v;
            rm.delete(k);
            view.set(k, Buffer.from(v));
          }
          for (const k of p.rm) {
            delete set[k];
            rm.add(k);
            view.delete(k);
          }
        }
        live = planned;
        if (changed) {
          const op = new WriteOp()
            .omapCmp(COUNTERS_KEY, 'eq', raw)
            .omapSet({ ...set, [COUNTERS_KEY]: JSON.stringify(counters) })
            .omapRm([...rm]);
          await this.io.operate(this.oid, op);
          laneStats.commits++;
          laneStats.changes += results.length;
          this.io.notify(this.oid, String(counters.highestModseq), 1000).catch(() => undefined);
          this.after(counters);
        }
        for (const [c, r] of results) c.resolve(r);
      });
    } catch (e) {
      for (const c of live) c.reject(e);
    }
  }
}

/**
 * The lanes of one MailStore (so of one process), one per index object. Two MailStores in one
 * process (tests, tools) do not share lanes.
 */
export class CommitLanes {
  private readonly lanes = new Map<string, Lane>();
  /** Called after every commit with the index object and its new counters (index compaction, index-shards.ts). */
  afterCommit?: (io: IoCtx, oid: string, counters: Counters) => void;

  /**
   * Submit an index change of index object `oid` (on `io`): `plan` gets the counters and `keys`
   * (as left by the changes planned before it in the same batch) and returns what to write.
   * Resolves with the plan's result once its commit is durable. Throws what the plan throws, the
   * store's errors, or Conflict when the guard kept losing (retry budget, retry.ts).
   */
  submit<T>(
    io: IoCtx,
    oid: string,
    keys: string[],
    plan: (c: Counters, got: Map<string, Buffer>) => Plan<T>,
    before?: Promise<unknown>,
  ): Promise<T> {
    const key = `${io.namespace}\u0000${oid}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      const made = new Lane(
        io,
        oid,
        () => {
          if (this.lanes.get(key) === made) this.lanes.delete(key);
        },
        (c) => this.afterCommit?.(io, oid, c),
      );
      this.lanes.set(key, made);
      lane = made;
    }
    return lane.submit(keys, plan, before);
  }
}
