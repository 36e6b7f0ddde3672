/**
 * @rmb/librmb — the mail model on the RADOS contract: users, mailbox lists, per-mailbox omap
 * indexes with UIDs, flags, modseqs and a change log, and immutable mail objects with their
 * MIME metadata.
 */
export * from './errors.js';
export { toCrlf } from './crlf.js';
export * from './types.js';
export * from './mime.js';
export { MessageScanner, SparseMessage, type ScannerOptions } from './mime-stream.js';
export { MailObjects, type StoredMeta, type Logger, META_VERSION, DEFAULT_STRIPE, type StripeOptions } from './mail.js';
export * as layout from './layout.js';
export { stripeOid } from './layout.js';
export { Mailbox, applyFlags, uidKey, logKey, indexOid, type StoreMode, type StoreResult } from './mailbox.js';
export {
  MailStore,
  UserStore,
  normalizeName,
  SEPARATOR,
  DEFAULT_MAILBOXES,
  type MailStoreOptions,
  type QuotaLimits,
} from './store.js';
export { withRetry, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { RouteTable, ROUTES_OID, type Route, type RouteSource, type RouteChange } from './routes.js';
export {
  getMetadata,
  setMetadata,
  dropMetadata,
  validEntry,
  MetadataLimit,
  DEFAULT_METADATA,
  type MetadataOptions,
  type MetadataDepth,
} from './metadata.js';
export {
  UserDirectory,
  USERDIR_OID,
  DEFAULT_USER_SHARDS,
  userNameProblem,
  MAX_USER_NAME_BYTES,
} from './user-directory.js';
export { CachedIndex, IndexCaches, lowerBound, indexOfSorted, removeSorted, type CacheReader } from './index-cache.js';
export { CommitLanes, laneStats, type Plan } from './commit-lane.js';
export { Compactor, DEFAULT_SHARD_WIDTH, LEGACY_SHARD_WIDTH, SHARD_PREFIX, shardKey } from './index-shards.js';
export { LogTrimmer, DEFAULT_LOG_RECORDS } from './log-trim.js';
export { rebuildIndex, type RebuildReport } from './index-rebuild.js';
export { refXattr, refPrefix } from './mail.js';
export { checkUser, DEFECT_KINDS, type CheckReport, type CheckOptions, type Defect, type DefectKind } from './check.js';
export { deleteUser } from './user-delete.js';
