/** The options of a MailStore (store.ts): limits, striping, quota, caches. */
import type { Logger, StripeOptions } from './mail.js';
import type { MetadataOptions } from './metadata.js';

/** Limits and options of the mail store. */
export interface MailStoreOptions {
  /** RADOS pool holding all mail (default "mail"). */
  pool?: string;
  /** Longest mailbox name in UTF-8 bytes (default 512). */
  maxMailboxNameBytes?: number;
  /** Deepest mailbox hierarchy (default 32 levels). */
  maxMailboxDepth?: number;
  /** Most mailboxes of one user (default 10000); CREATE beyond gets LimitExceeded. */
  maxMailboxes?: number;
  /** Entries in the metadata cache (default 10000). */
  metaCacheEntries?: number;
  /** Mail object striping and write sizes (bytes). */
  stripe?: StripeOptions;
  /** How long an expunged mail stays readable, ms (default DEFAULT_EXPUNGE_GRACE_MS; see Mailbox.expunge). */
  expungeGraceMs?: number;
  /**
   * RADOS namespace of this store's user directory, also prefixed to every user's namespace
   * (default "": directory in "", users in "u.<id>"). Lets several independent stores share a
   * pool (tests, tenants).
   */
  namespace?: string;
  /** Per-user quota (RFC 9208 STORAGE in bytes, MESSAGE count); 0 or absent = unlimited. */
  quota?: QuotaLimits;
  /** METADATA limits (RFC 5464); default DEFAULT_METADATA. */
  metadata?: MetadataOptions;
  /**
   * Objects the user directory is sharded over when this store is first used (default
   * DEFAULT_USER_SHARDS; fixed from then on, user-directory.ts).
   */
  userShards?: number;
  /**
   * Messages the shared index caches of idle mailboxes may hold (default 1,000,000; about 300
   * bytes each): mailboxes no session has selected stay cached while within it (index-cache.ts).
   */
  indexCacheMessages?: number;
  /**
   * UIDs per range of a sharded mailbox index, fixed in each index when it is made (default
   * DEFAULT_SHARD_WIDTH, 100,000; 0 = never shard): once the index object holds more entries
   * than this, closed ranges move into shard objects (index-shards.ts, ADR 0020).
   */
  indexShardEntries?: number;
  /**
   * Modseqs of changes each mailbox's change log keeps (default DEFAULT_LOG_RECORDS, 10,000; 0 =
   * never trim): older records are removed (log-trim.ts); clients that synced before them are
   * answered from the entries (RFC 7162 §3.2.5.2).
   */
  changeLogRecords?: number;
  log?: Logger;
}

/** Quota limits of a user: total RFC822.SIZE bytes and messages over all mailboxes (0 = none). */
export interface QuotaLimits {
  storageBytes: number;
  messages: number;
}
