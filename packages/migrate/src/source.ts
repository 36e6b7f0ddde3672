/**
 * What the migration reads from: a source of one user's folders and messages. Two kinds exist:
 * an IMAP server (source-imap.ts, through imapflow) and a Maildir tree on disk
 * (source-maildir.ts). Everything is read in bounded pieces: UID sets as numbers, flags and
 * metadata per UID range, bodies per chunk, large bodies as streams.
 */

/** A folder of the source with its STATUS (RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ). */
export interface SourceFolder {
  /** The name as the source lists it, decoded to UTF-8, with the source's delimiter. */
  name: string;
  /** The source's hierarchy delimiter ("/" or "."), or null for a flat namespace. */
  delimiter: string | null;
  /** RFC 6154 attribute from SPECIAL-USE, when the source gives one. */
  specialUse: string | null;
  subscribed: boolean;
  /** \Noselect / \NonExistent: a folder that holds no mail (only its children are copied). */
  noselect: boolean;
  uidvalidity: number;
  uidnext: number;
  messages: number;
  /** HIGHESTMODSEQ when the source has CONDSTORE, else undefined. */
  highestModseq?: number;
  /** Sum of RFC822.SIZE in bytes (STATUS SIZE, RFC 8438) when offered. */
  size?: number;
}

/** One message's index data at the source. */
export interface SourceMeta {
  uid: number;
  /** System flags and keywords as named at the source (\Recent left out). */
  flags: string[];
  /** INTERNALDATE, ms since epoch (whole seconds). */
  internalDate: number;
  /** RFC822.SIZE in bytes. */
  size: number;
  /** The message's MODSEQ (RFC 7162) when the source has CONDSTORE, else undefined. */
  modseq?: number;
}

/** One message with its bytes. */
export interface SourceMessage extends SourceMeta {
  data: Buffer;
}

/** A folder opened read-only (EXAMINE): its UIDs, flags, metadata and bodies. */
export interface OpenFolder {
  /** The folder's STATUS as seen when it was opened. */
  readonly status: SourceFolder;
  /** Every UID in the folder, ascending. */
  uids(): Promise<number[]>;
  /**
   * Flags of the messages with UIDs in [lo, hi] (only those changed after `changedSince` when
   * given and the source has CONDSTORE): uid -> flags.
   */
  flags(lo: number, hi: number, changedSince?: number): Promise<Map<number, string[]>>;
  /** Index data of the given UIDs (those that still exist), ascending. */
  meta(uids: number[]): Promise<SourceMeta[]>;
  /** The bytes of the given UIDs (those that still exist), ascending. */
  bodies(uids: number[]): Promise<Map<number, Buffer>>;
  /**
   * The bytes of one (large) message as a stream of exactly `size` bytes as stored at the source
   * (before any CRLF normalisation); null when it no longer exists.
   */
  stream(uid: number): Promise<{ source: AsyncIterable<Buffer>; size: number } | null>;
  /** Whether flags(..., changedSince) returns only the changes (CONDSTORE), not every message. */
  readonly condstore: boolean;
}

/**
 * Writing back to the source (rollback, issue 13); IMAP sources only. Nothing is ever expunged:
 * a message deleted in rmb is only marked \Deleted there.
 */
export interface SourceWriter {
  /** CREATE a folder (RFC 3501 §6.3.3); no error when it exists. */
  create(name: string): Promise<void>;
  /**
   * APPEND a message with its flags and INTERNALDATE (ms since epoch, RFC 3501 §6.3.11); returns
   * the UID the source gave it when it says (UIDPLUS, RFC 4315), else null.
   */
  append(folder: string, data: Buffer, flags: string[], internalDate: number): Promise<number | null>;
  /** Replace the flags and keywords of UID `uid` in `folder` (UID STORE FLAGS); a gone UID is skipped. */
  setFlags(folder: string, uid: number, flags: string[]): Promise<void>;
  /** Add \Deleted to these UIDs of `folder` (UID STORE +FLAGS); never EXPUNGE. */
  markDeleted(folder: string, uids: number[]): Promise<void>;
}

/** One user's mail at the source. */
export interface Source {
  /** Write access, where the source allows it (an IMAP server); undefined for a Maildir tree. */
  readonly writer?: SourceWriter;
  /** Every folder with its STATUS, INBOX included. */
  folders(): Promise<SourceFolder[]>;
  /** Open a folder read-only. Throws SourceUnavailable when it is gone or refused. */
  open(folder: SourceFolder): Promise<OpenFolder>;
  /** The NAMESPACE response as text, for the plan (or a description of the layout on disk). */
  namespace(): Promise<string>;
  /** Close connections and files. */
  close(): Promise<void>;
}
