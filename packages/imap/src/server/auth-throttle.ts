/**
 * Failed-authentication throttling per remote address and per user name (issue 15 item 7): each
 * failure is answered after a growing delay, and past a number of failures within a window the
 * address (or the user name) is refused with NO [UNAVAILABLE] (RFC 5530) for a while, even with
 * the right password. Dovecot's auth penalty does the first per address; rmb adds the refusal and
 * the per-user count (password spraying from many addresses). Kept per process.
 */
import { LRUCache } from 'lru-cache';

/** Limits of AuthThrottle (config `auth.throttle.*`). */
export interface AuthThrottleLimits {
  /** Failures from one address within `windowMs` after which the address is refused (0 = never). */
  addressFailures: number;
  /** Failures for one user name (any address) within `windowMs` after which it is refused (0 = never). */
  userFailures: number;
  /** Window the failures are counted in, ms (restarts at the first failure after it ends). */
  windowMs: number;
  /** How long a refusal lasts, ms. */
  blockMs: number;
  /** Delay before the answer to the first failure, ms; doubles with each failure of the address. */
  baseDelayMs: number;
  /** Longest delay, ms. */
  maxDelayMs: number;
  /** Addresses and user names tracked at once (least recently failed forgotten first). */
  maxTracked: number;
}

/** Defaults: 10 failures per address or 50 per user name in 15 minutes block it for 5 minutes. */
export const DEFAULT_AUTH_THROTTLE: AuthThrottleLimits = {
  addressFailures: 10,
  userFailures: 50,
  windowMs: 15 * 60_000,
  blockMs: 5 * 60_000,
  baseDelayMs: 200,
  maxDelayMs: 5000,
  maxTracked: 100_000,
};

interface Failures {
  count: number;
  /** When the window began, ms since epoch. */
  since: number;
  /** Refused until then, ms since epoch (0: not refused). */
  until: number;
}

/** The throttle of one server process; `now` is injectable for tests (ms since epoch). */
export class AuthThrottle {
  private readonly seen: LRUCache<string, Failures>;

  constructor(
    readonly limits: AuthThrottleLimits = DEFAULT_AUTH_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {
    this.seen = new LRUCache({ max: Math.max(1, limits.maxTracked) });
  }

  /**
   * Whether an authentication from `address` as `user` is refused now: the reason ('address' or
   * 'user') and until when (ms since epoch), or null.
   */
  refused(address: string, user: string | undefined): { by: 'address' | 'user'; until: number } | null {
    const t = this.now();
    const a = this.seen.get(`a\0${address}`);
    if (a && a.until > t) return { by: 'address', until: a.until };
    const u = user === undefined ? undefined : this.seen.get(`u\0${user.toLowerCase()}`);
    if (u && u.until > t) return { by: 'user', until: u.until };
    return null;
  }

  /** Count a failure of `address` as `user`; returns how long to wait before answering it (ms). */
  failed(address: string, user: string | undefined): number {
    const a = this.count(`a\0${address}`, this.limits.addressFailures);
    if (user !== undefined) this.count(`u\0${user.toLowerCase()}`, this.limits.userFailures);
    const { baseDelayMs, maxDelayMs } = this.limits;
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(30, a.count - 1));
  }

  /** A successful login from `address`: its failures are forgotten (the user name's stay counted). */
  succeeded(address: string): void {
    const a = this.seen.get(`a\0${address}`);
    if (a && a.until <= this.now()) this.seen.delete(`a\0${address}`);
  }

  private count(key: string, limit: number): Failures {
    const t = this.now();
    let f = this.seen.get(key);
    if (!f || (t - f.since > this.limits.windowMs && f.until <= t)) f = { count: 0, since: t, until: 0 };
    f.count++;
    if (limit > 0 && f.count >= limit && f.until <= t) f.until = t + this.limits.blockMs;
    this.seen.set(key, f);
    return f;
  }
}
