/**
 * Issue 15 item 7: the failed-authentication throttle (auth-throttle.ts) on a fake clock: growing
 * delays, refusal per address and per user name for `blockMs`, windows, success forgetting an
 * address.
 */
import { AuthThrottle, DEFAULT_AUTH_THROTTLE } from '../src/index.js';

function throttle(over: Partial<typeof DEFAULT_AUTH_THROTTLE> = {}) {
  let t = 1_000_000;
  const th = new AuthThrottle({ ...DEFAULT_AUTH_THROTTLE, ...over }, () => t);
  return { th, advance: (ms: number) => (t += ms) };
}

test('the delay doubles per failure of an address, up to maxDelayMs', () => {
  const { th } = throttle({ baseDelayMs: 100, maxDelayMs: 1000, addressFailures: 0, userFailures: 0 });
  const delays = Array.from({ length: 6 }, (_, i) => th.failed('10.0.0.1', `u${i}`));
  expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  // another address starts from the base
  expect(th.failed('10.0.0.2', 'u')).toBe(100);
  expect(th.refused('10.0.0.1', 'x')).toBeNull();
});

test('an address is refused for blockMs after addressFailures, other addresses are not', () => {
  const { th, advance } = throttle({ addressFailures: 3, userFailures: 0, blockMs: 60_000 });
  for (let i = 0; i < 2; i++) th.failed('10.0.0.1', 'alice');
  expect(th.refused('10.0.0.1', 'alice')).toBeNull();
  th.failed('10.0.0.1', 'alice');
  expect(th.refused('10.0.0.1', 'alice')).toEqual({ by: 'address', until: 1_000_000 + 60_000 });
  expect(th.refused('10.0.0.1', 'bob')?.by).toBe('address');
  expect(th.refused('10.0.0.9', 'alice')).toBeNull();
  // a success during the refusal does not lift it
  th.succeeded('10.0.0.1');
  expect(th.refused('10.0.0.1', 'alice')).not.toBeNull();
  advance(60_001);
  expect(th.refused('10.0.0.1', 'alice')).toBeNull();
});

test('a user name is refused after userFailures from any addresses, case-insensitively', () => {
  const { th, advance } = throttle({ addressFailures: 0, userFailures: 4, blockMs: 10_000 });
  for (let i = 0; i < 4; i++) th.failed(`10.0.1.${i}`, i % 2 ? 'Carol' : 'carol');
  expect(th.refused('10.9.9.9', 'CAROL')).toEqual({ by: 'user', until: 1_000_000 + 10_000 });
  expect(th.refused('10.9.9.9', 'dave')).toBeNull();
  advance(10_001);
  expect(th.refused('10.9.9.9', 'carol')).toBeNull();
});

test('failures older than the window are forgotten; a success forgets the address', () => {
  const { th, advance } = throttle({ addressFailures: 3, userFailures: 0, windowMs: 1000, baseDelayMs: 10 });
  th.failed('a', 'x');
  th.failed('a', 'x');
  advance(1001);
  th.failed('a', 'x');
  expect(th.refused('a', 'x')).toBeNull();
  th.failed('a', 'x');
  th.succeeded('a');
  expect(th.failed('a', 'x')).toBe(10); // counted from the start again
  expect(th.refused('a', 'x')).toBeNull();
});
