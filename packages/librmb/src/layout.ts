/**
 * The RADOS layout of rmb, in one place (ADR 0002): every object name, omap key and xattr name
 * librmb reads or writes. Numbers in keys are zero-padded so that omap order is numeric order.
 *
 *   pool namespace "<ns>"        object `users`       omap <username> -> user id
 *   namespace "<ns>u.<user id>"  object `mailboxes`   omap m:<name> -> MailboxInfo, s:<name> -> ""
 *                                                     (subscription), c:uidvalidity, q:limits,
 *                                                     w:<mailbox id> -> modseq/UID reserve
 *                                object `metadata`    omap <scope>\0<entry> -> value (RFC 5464)
 *                                object `i.<mailbox>` omap h (counters), u:<uid>, l:<modseq>,
 *                                                     x:<ms>:<uid> (expunged, kept; ADR 0008),
 *                                                     s:<range> -> shard object (ADR 0020)
 *                                object `i.<mailbox>.<range>.<random>`  omap u:<uid> (a closed
 *                                                     UID range's entries, immutable; index-shards.ts)
 *                                object `m.<uuid>`    mail bytes; xattrs rmb.meta, rmb.origin, rmb.rc;
 *                                                     stripes `m.<uuid>.<k>` (data only)
 */
import { randomUUID } from 'node:crypto';

/** Object of the user directory (in the store's root namespace). */
export const USERS_OID = 'users';
/** RADOS namespace of a user's objects, under the store's namespace prefix. */
export const userNamespace = (prefix: string, userId: string): string => `${prefix}u.${userId}`;
/** Object of a user's mailbox list. */
export const MAILBOXES_OID = 'mailboxes';
/** Object of a user's METADATA entries (RFC 5464). */
export const METADATA_OID = 'metadata';

/** Mailbox-list omap key of mailbox `name` (value: MailboxInfo JSON). */
export const mailboxKey = (name: string): string => `m:${name}`;
/** Prefix of mailboxKey. */
export const MAILBOX_PREFIX = 'm:';
/** Mailbox-list omap key of the subscription of `name` (value ""). */
export const subscriptionKey = (name: string): string => `s:${name}`;
/** Prefix of subscriptionKey. */
export const SUBSCRIPTION_PREFIX = 's:';
/** Mailbox-list omap key of the last UIDVALIDITY given out. */
export const UIDVALIDITY_KEY = 'c:uidvalidity';
/**
 * Mailbox-list omap key of the number of mailboxes (kept by CREATE, DELETE, RENAME and the
 * defaults; counted once from the list where a list made before it lacks it).
 */
export const COUNT_KEY = 'c:count';
/**
 * Mailbox-list omap key of the reserve of mailbox `id`: HIGHESTMODSEQ and UIDNEXT its counters
 * stay below until the next write (reserve.ts), for a rebuild of a lost index.
 */
export const reserveKey = (id: string): string => `w:${id}`;
/** Mailbox-list omap key of the user's own quota limits (JSON Partial<QuotaLimits>; ADR 0007). */
export const QUOTA_KEY = 'q:limits';
/** METADATA omap key of `entry` (lower case) in `scope` (a mailbox id, or '' for the server). */
export const metadataKey = (scope: string, entry: string): string => `${scope}\0${entry}`;

/** Index omap key of the counters (Counters JSON). */
export const COUNTERS_KEY = 'h';
/** Prefix of uidKey. */
export const UID_PREFIX = 'u:';
/** Prefix of logKey. */
export const LOG_PREFIX = 'l:';
/** Prefix of expungedKey. */
export const EXPUNGED_PREFIX = 'x:';

/** omap key of the index entry of `uid` (zero-padded to 10 digits). */
export const uidKey = (uid: number): string => `u:${String(uid).padStart(10, '0')}`;
/** omap key of the change-log record of `modseq` (zero-padded to 16 digits). */
export const logKey = (modseq: number): string => `l:${String(modseq).padStart(16, '0')}`;
/**
 * omap key of an expunged mail whose object is kept readable for sessions that still address it
 * (RFC 2180 §4.1): `x:<expunge time, ms, 15 digits>:<uid, 10 digits>` -> mail object name.
 */
export const expungedKey = (atMs: number, uid: number): string =>
  `x:${String(atMs).padStart(15, '0')}:${String(uid).padStart(10, '0')}`;
/** The expunge time (ms since epoch) of an expungedKey. */
export const expungedAt = (key: string): number => Number(key.slice(2, 17));
/** Object name of a mailbox's index. */
export const indexOid = (mailboxId: string): string => `i.${mailboxId}`;

/** Whether `oid` names a mail object (`m.<uuid>`; its stripes `m.<uuid>.<k>` do not match). */
export const isMailOid = (oid: string): boolean => /^m\.[0-9a-f-]{36}$/.test(oid);
/** Object name of a new mail. */
export const newMailOid = (): string => `m.${randomUUID()}`;
/** The EMAILID (RFC 8474) of mail object `oid`: "M" and its uuid. */
export const emailIdOf = (oid: string): string => oid.replace(/^m\./, 'M');
/** Name of stripe `k` of mail object `oid` (stripe 0 is the object itself). */
export const stripeOid = (oid: string, k: number): string => (k === 0 ? oid : `${oid}.${k}`);
/** Mail xattr: immutable metadata (StoredMeta JSON). */
export const META_XATTR = 'rmb.meta';
/** Mail xattr: where the mail was saved first, with its flags and date (for an index rebuild). */
export const ORIGIN_XATTR = 'rmb.origin';
/** Mail xattr: reference count (index entries pointing at the object). */
export const REFCOUNT_XATTR = 'rmb.rc';
