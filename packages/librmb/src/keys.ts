/** Names in a mailbox index (see mailbox.ts): omap keys sort as their numbers do; and its flag counters. */
import type { Counters } from './types.js';

/** omap key of the index entry of `uid` (zero-padded to 10 digits). */
export const uidKey = (uid: number): string => `u:${String(uid).padStart(10, '0')}`;
/** omap key of the change-log record of `modseq` (zero-padded to 16 digits). */
export const logKey = (modseq: number): string => `l:${String(modseq).padStart(16, '0')}`;
/**
 * omap key of an expunged mail whose object is kept readable for sessions that still address it
 * (RFC 2180 §4.1): `x:<expunge time, ms, 15 digits>:<uid, 10 digits>` -> mail object name.
 */
export const expungedKey = (atMs: number, uid: number): string => `x:${String(atMs).padStart(15, '0')}:${String(uid).padStart(10, '0')}`;
/** The expunge time (ms since epoch) of an expungedKey. */
export const expungedAt = (key: string): number => Number(key.slice(2, 17));
/** Object name of a mailbox's index. */
export const indexOid = (mailboxId: string): string => `i.${mailboxId}`;

/**
 * Adjust the counters that depend on flags (unseen, and deleted where the index keeps it: indexes
 * made before it have none) for an entry with `flags` coming in (+1) or going out (-1).
 */
export function countFlags(c: Counters, flags: string[], sign: 1 | -1): void {
  if (!flags.includes('\\Seen')) c.unseen += sign;
  if (c.deleted !== undefined && flags.includes('\\Deleted')) c.deleted += sign;
}
