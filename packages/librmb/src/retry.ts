/**
 * Optimistic-concurrency helper: run an attempt, and on a lost race (ECANCELED or ERANGE from a
 * guard) retry with jittered exponential backoff, up to `maxAttempts` (then Conflict).
 */
import { isErrno } from '@rmb/rados';
import { Conflict } from './errors.js';

/** Retry budget: attempts, first backoff and cap in ms. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 200, baseDelayMs: 1, maxDelayMs: 50 };

/** True when `e` says another writer won the race on a guarded op (incl. an exclusive create). */
export function lostRace(e: unknown): boolean {
  return isErrno(e, 'ECANCELED') || isErrno(e, 'ERANGE') || isErrno(e, 'EEXIST');
}

/** Run `attempt(n)` until it returns without losing a race. Throws Conflict past the budget. */
export async function withRetry<T>(
  what: string,
  attempt: (n: number) => Promise<T>,
  policy = DEFAULT_RETRY,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (!lostRace(e)) throw e;
      if (n + 1 >= policy.maxAttempts) throw new Conflict(`${what}: gave up after ${n + 1} conflicting attempts`);
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(n, 10));
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
  }
}
