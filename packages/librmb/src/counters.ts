/** Flag counters of a mailbox index (Counters.unseen, Counters.deleted). */
import type { Counters } from './types.js';

/**
 * Adjust the counters that depend on flags (unseen, and deleted where the index keeps it: indexes
 * made before it have none) for an entry with `flags` coming in (+1) or going out (-1).
 */
export function countFlags(c: Counters, flags: string[], sign: 1 | -1): void {
  if (!flags.includes('\\Seen')) c.unseen += sign;
  if (c.deleted !== undefined && flags.includes('\\Deleted')) c.deleted += sign;
}
