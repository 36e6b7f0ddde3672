/**
 * @rmb/migrate — moving users from an IMAP server or a Maildir tree into rmb, keeping
 * UIDVALIDITY, UIDs, flags, keywords and dates: the users file, sources, the sync engine, its
 * state in the store, verification and reports. The `rmb migrate` command line is in @rmb/rmb.
 */
export * from './errors.js';
export * from './users.js';
export * from './source-uri.js';
export type { Source, SourceFolder, SourceMeta, OpenFolder, SourceWriter } from './source.js';
export { openImapSource, type ImapSourceOptions } from './source-imap.js';
export { openMaildirSource } from './source-maildir.js';
export { LOCALIZED_SPECIAL_USE, rmbName, specialUseByName } from './names.js';
export * from './state.js';
export { UserSync, DEFAULT_SYNC, emptyCounters, type SyncOptions, type Progress } from './sync.js';
export { verifyUser, differenceCount, type VerifyResult } from './verify.js';
export { Runner, openSource, type RunEvent, type RunOptions, type RunResult, type UserOutcome } from './runner.js';
export { Throttle, HostBudget } from './throttle.js';
export * from './report.js';
export { cutover, CutoverFailed, type CutoverResult } from './cutover.js';
export { rollback, RollbackFailed, type RollbackResult } from './rollback.js';
export { postSync, type PostSyncResult } from './post-sync.js';
export { openMboxSource } from './source-mbox.js';
export { exportMaildir, exportMbox, mboxRecord, MBOX_META_HEADERS, type ExportReport } from './export.js';
