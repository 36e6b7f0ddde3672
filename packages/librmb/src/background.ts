/**
 * Background upkeep of index objects started after commits (index compaction, change-log
 * trimming): at most one job per index object and kind in a process, errors logged (the job is
 * tried again after a later commit), and a way for tests and shutdown to wait for them.
 */
import type { IoCtx } from '@rmb/rados';

/** The jobs of one kind in one MailStore. */
export class BackgroundJobs {
  private readonly running = new Set<string>();
  private idle: Promise<void>[] = [];
  /** Jobs that threw. */
  failed = 0;

  constructor(
    /** What the jobs do, for the log line of a failure. */
    private readonly what: string,
    private readonly log?: { warn(o: object, msg: string): void },
  ) {}

  /** Run `job` for index object `oid` unless one runs for it already. */
  start(io: IoCtx, oid: string, job: () => Promise<unknown>): void {
    const key = `${io.namespace}\u0000${oid}`;
    if (this.running.has(key)) return;
    this.running.add(key);
    const run = job()
      .then(() => undefined)
      .catch((e: unknown) => {
        this.failed++;
        this.log?.warn({ err: e, index: oid }, `${this.what} failed; it is tried again after a later change`);
      })
      .finally(() => this.running.delete(key));
    this.idle.push(run);
  }

  /** Wait for every job started so far, and those they started (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.idle.length) {
      const all = this.idle;
      this.idle = [];
      await Promise.all(all);
    }
  }
}

/** A count of background writes in flight across a MailStore (mail object references, reserves), to wait for. */
export class InFlight {
  private n = 0;
  private waiters: (() => void)[] = [];
  /** Count `p` until it settles; returns it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.n++;
    const done = () => {
      if (--this.n === 0) for (const w of this.waiters.splice(0)) w();
    };
    p.then(done, done);
    return p;
  }
  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    return this.n ? new Promise((r) => this.waiters.push(r)) : Promise.resolve();
  }
}
