/** Shapes of the mail model's records as stored in omap (JSON) and returned to callers. */

/** One message in a mailbox index (omap key `u:<uid>` of the index object). */
export interface IndexEntry {
  uid: number;
  /** Object id of the mail object (its bytes and immutable metadata). */
  mail: string;
  /** System flags (\Seen ...) and keywords, in the order set. */
  flags: string[];
  modseq: number;
  /** INTERNALDATE, ms since epoch. */
  internalDate: number;
  /** RFC822.SIZE in bytes. */
  size: number;
  /** SAVEDATE, ms since epoch. */
  saveDate: number;
}

/** Per-mailbox counters (omap key `h` of the index object); every index change rewrites it. */
export interface Counters {
  uidvalidity: number;
  uidnext: number;
  highestModseq: number;
  messages: number;
  unseen: number;
  /** Messages with \\Deleted (STATUS DELETED, RFC 9051 §6.3.11); absent in indexes made before it was kept. */
  deleted?: number;
  /** Sum of RFC822.SIZE in bytes. */
  bytes: number;
  /** Lowest UID not yet reported as \Recent to a session. */
  firstRecent: number;
  /** Number of expunge commits that only released kept mails (Mailbox.expunge); makes such claims conflict. */
  purges?: number;
  /**
   * UIDs per range of the sharded index (index-shards.ts), fixed when the index is made; 0 = never
   * sharded; absent in indexes made before it (LEGACY_SHARD_WIDTH).
   */
  shardWidth?: number;
  /** `u:` keys in the index object, kept from the first compaction on (before, equal to `messages`). */
  inline?: number;
  /** Compactions committed (each moves one UID range into a new shard object). */
  shardGen?: number;
  /**
   * The change log holds every record with a modseq above this (records at or below it were
   * trimmed, log-trim.ts); absent: nothing was trimmed.
   */
  logFloor?: number;
}

/** One change-log record (omap key `l:<modseq>`): what changed at that modseq. */
export interface LogEntry {
  modseq: number;
  kind: 'append' | 'flags' | 'expunge';
  uids: number[];
}

/** A mailbox as listed in the user's mailbox list. */
export interface MailboxInfo {
  /** Full name, UTF-8, hierarchy separator "/"; "INBOX" for the inbox. */
  name: string;
  /** Stable id; the index object is `i.<id>`. */
  id: string;
  uidvalidity: number;
  /** RFC 6154 special-use attribute, e.g. "\\Sent", or null. */
  specialUse: string | null;
}

/** A message to save: exact bytes, initial flags, INTERNALDATE (ms since epoch). */
export interface NewMessage {
  /** The whole message; or, for a large one, `stream`. */
  data?: Buffer;
  /** The message as a stream of exactly `size` bytes (written striped, never held whole). */
  stream?: { source: AsyncIterable<Buffer>; size: number };
  /** A message already written by UserStore.stage (MULTIAPPEND of several streamed messages). */
  staged?: StagedMessage;
  flags?: string[];
  internalDate?: number;
}

/**
 * A mail object written ahead of its index commit (UserStore.stage): committed by appendTo, or
 * removed by UserStore.discardStaged. Until then no index entry refers to it.
 */
export interface StagedMessage {
  /** Object name. */
  oid: string;
  /** Stored size in bytes (after CRLF normalisation). */
  size: number;
}

/** Where a saved message went: its UID and the mailbox's UIDVALIDITY (RFC 4315 APPENDUID). */
export interface SavedMessage {
  uid: number;
  uidvalidity: number;
  mail: string;
  /** The modseq the entry got (absent where a caller made it without one). */
  modseq?: number;
}

/**
 * A message imported under the UID it had elsewhere (Mailbox.importMessages, migration): its
 * bytes (`data`, written by the import) or an object already written (`staged`, for large mails
 * streamed by UserStore.stage), its flags and keywords, INTERNALDATE in ms since epoch.
 */
export interface ImportMessage {
  uid: number;
  data?: Buffer;
  staged?: StagedMessage;
  /** Object name to write `data` to (UserStore.newMailOid), so a caller can journal it first. */
  oid?: string;
  flags: string[];
  internalDate: number;
  /** The message's modseq at the source (CONDSTORE), kept when lower than the commit's. */
  modseq?: number;
}
