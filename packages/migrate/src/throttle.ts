/**
 * Throttles of a migration run (`--max-msgs-per-sec`, `--max-bytes-per-sec`): token buckets shared
 * by every user of the run, so the source sees at most that rate whatever the concurrency; and a
 * per-source-host connection budget (a counting semaphore per host:port).
 */

/** A token bucket over messages and bytes per second (0 = unlimited). */
export class Throttle {
  private msgTokens: number;
  private byteTokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly msgsPerSec: number,
    readonly bytesPerSec: number,
  ) {
    this.msgTokens = msgsPerSec;
    this.byteTokens = bytesPerSec;
  }

  /** Wait until `msgs` messages of `bytes` bytes may be fetched. Calls are served in order. */
  take(msgs: number, bytes: number): Promise<void> {
    if (!this.msgsPerSec && !this.bytesPerSec) return Promise.resolve();
    const p = this.queue.then(() => this.wait(msgs, bytes));
    this.queue = p;
    return p;
  }

  private async wait(msgs: number, bytes: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      const dt = (now - this.last) / 1000;
      this.last = now;
      if (this.msgsPerSec) this.msgTokens = Math.min(this.msgsPerSec, this.msgTokens + dt * this.msgsPerSec);
      if (this.bytesPerSec) this.byteTokens = Math.min(this.bytesPerSec, this.byteTokens + dt * this.bytesPerSec);
      // a request bigger than one second's budget goes through once the bucket is full
      const msgOk = !this.msgsPerSec || this.msgTokens >= Math.min(msgs, this.msgsPerSec);
      const byteOk = !this.bytesPerSec || this.byteTokens >= Math.min(bytes, this.bytesPerSec);
      if (msgOk && byteOk) {
        this.msgTokens -= msgs;
        this.byteTokens -= bytes;
        return;
      }
      const needM = this.msgsPerSec ? (Math.min(msgs, this.msgsPerSec) - this.msgTokens) / this.msgsPerSec : 0;
      const needB = this.bytesPerSec ? (Math.min(bytes, this.bytesPerSec) - this.byteTokens) / this.bytesPerSec : 0;
      await new Promise((r) => setTimeout(r, Math.max(5, Math.ceil(Math.max(needM, needB) * 1000))));
    }
  }
}

/** A counting semaphore per key (source host:port): at most `limit` holders per key. */
export class HostBudget {
  private readonly held = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  constructor(readonly limit: number) {}

  /** Wait for a slot of `key`; resolves with the function that gives it back. */
  async acquire(key: string): Promise<() => void> {
    if ((this.held.get(key) ?? 0) >= this.limit) {
      await new Promise<void>((r) => {
        const q = this.waiting.get(key) ?? [];
        q.push(r);
        this.waiting.set(key, q);
      });
    } else {
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const q = this.waiting.get(key);
      const nextWaiter = q?.shift();
      if (nextWaiter) nextWaiter();
      else this.held.set(key, (this.held.get(key) ?? 1) - 1);
    };
  }
}
