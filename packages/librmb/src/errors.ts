/**
 * Typed errors of the mail model. Protocol layers map them to responses:
 * IMAP response codes (RFC 5530) and LMTP enhanced status codes (RFC 3463).
 */
import { RadosError } from '@rmb/rados';

/** Base class of mail model errors. `code` is a stable machine name. */
export class MailError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MailError';
  }
}
/** A mailbox, message or user does not exist. IMAP: [NONEXISTENT] / [TRYCREATE]; LMTP: 550 5.1.1. */
export class NotFound extends MailError {
  constructor(message: string) {
    super('NotFound', message);
    this.name = 'NotFound';
  }
}
/** The name is taken. IMAP: [ALREADYEXISTS]. */
/**
 * The message was expunged and its bytes are gone (RFC 5530 EXPUNGEISSUED): a session still
 * addressed it after the expunge grace period (see MailStoreOptions.expungeGraceMs).
 */
export class Expunged extends NotFound {
  constructor(message: string) {
    super(message);
    this.name = 'Expunged';
  }
}

export class AlreadyExists extends MailError {
  constructor(message: string) {
    super('AlreadyExists', message);
    this.name = 'AlreadyExists';
  }
}
/** Concurrent updates kept conflicting past the retry budget. IMAP: [INUSE]; LMTP 451 4.2.0. */
export class Conflict extends MailError {
  constructor(message: string) {
    super('Conflict', message);
    this.name = 'Conflict';
  }
}
/** The store cannot be reached or failed. IMAP: [UNAVAILABLE]; LMTP 451 4.3.0. */
export class Unavailable extends MailError {
  constructor(message: string, cause?: unknown) {
    super('Unavailable', message);
    this.name = 'Unavailable';
    if (cause !== undefined) this.cause = cause;
  }
}
/** Quota or store capacity exceeded. IMAP: [OVERQUOTA]; LMTP 452 4.3.1 (store full) / 552 5.2.2. */
export class QuotaExceeded extends MailError {
  constructor(
    message: string,
    readonly storeFull = false,
  ) {
    super('QuotaExceeded', message);
    this.name = 'QuotaExceeded';
  }
}
/** A per-user limit other than quota (e.g. the number of mailboxes). IMAP: [LIMIT] (RFC 5530). */
export class LimitExceeded extends MailError {
  constructor(message: string) {
    super('LimitExceeded', message);
    this.name = 'LimitExceeded';
  }
}
/** A name or argument is not acceptable (e.g. empty mailbox name). IMAP: [CANNOT]. */
export class InvalidName extends MailError {
  constructor(message: string) {
    super('InvalidName', message);
    this.name = 'InvalidName';
  }
}
/** The operation is not allowed in this state (e.g. DELETE of a mailbox with children). IMAP: [CANNOT]. */
export class NotAllowed extends MailError {
  constructor(message: string) {
    super('NotAllowed', message);
    this.name = 'NotAllowed';
  }
}

/** Convert a store error into the mail model's terms (ENOSPC -> QuotaExceeded, else Unavailable). */
export function fromStoreError(e: unknown, what: string): Error {
  if (e instanceof MailError) return e;
  if (e instanceof RadosError) {
    if (e.code === 'ENOSPC') return new QuotaExceeded(`${what}: storage full`, true);
    return new Unavailable(`${what}: ${e.message}`, e);
  }
  return e instanceof Error ? e : new Error(String(e));
}
