/** Names in a mailbox index (see mailbox.ts): omap keys sort as their numbers do. */

/** omap key of the index entry of `uid` (zero-padded to 10 digits). */
export const uidKey = (uid: number): string => `u:${String(uid).padStart(10, '0')}`;
/** omap key of the change-log record of `modseq` (zero-padded to 16 digits). */
export const logKey = (modseq: number): string => `l:${String(modseq).padStart(16, '0')}`;
/** Object name of a mailbox's index. */
export const indexOid = (mailboxId: string): string => `i.${mailboxId}`;
