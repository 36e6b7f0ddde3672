/**
 * Mapping of typed errors to tagged IMAP responses (RFC 3501 §7.1, response codes of RFC 5530).
 */
import {
  AlreadyExists,
  Conflict,
  Expunged,
  InvalidName,
  LimitExceeded,
  NotAllowed,
  NotFound,
  QuotaExceeded,
  Unavailable,
} from '@rmb/librmb';
import { ParseError } from '../protocol/tokens.js';
import type { ResponseCode } from '../protocol/response.js';
import { BadCharset } from '../protocol/search.js';

/** A command failure the session answers with NO (or BAD), with an optional response code. */
export class CommandError extends Error {
  constructor(
    readonly status: 'NO' | 'BAD',
    readonly code: ResponseCode | null,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Shorthand: NO with a response code. */
export const no = (code: ResponseCode | null, text: string): CommandError => new CommandError('NO', code, text);
/** Shorthand: BAD. */
export const bad = (text: string): CommandError => new CommandError('BAD', null, text);

/** Translate any error into [status, code, text]; unknown errors become NO [SERVERBUG]. */
export function toResponse(
  e: unknown,
  mailboxCommand = false,
): { status: 'NO' | 'BAD'; code: ResponseCode | null; text: string; internal: boolean } {
  if (e instanceof CommandError) return { status: e.status, code: e.code, text: e.message, internal: false };
  if (e instanceof BadCharset)
    return { status: 'NO', code: `BADCHARSET (${BadCharset.ADVERTISED.join(' ')})`, text: e.message, internal: false };
  if (e instanceof ParseError) return { status: 'BAD', code: null, text: e.message, internal: false };
  if (e instanceof Expunged)
    return {
      status: 'NO',
      code: 'EXPUNGEISSUED',
      text: 'Some of the requested messages no longer exist',
      internal: false,
    };
  if (e instanceof NotFound)
    return { status: 'NO', code: mailboxCommand ? 'TRYCREATE' : 'NONEXISTENT', text: e.message, internal: false };
  if (e instanceof AlreadyExists) return { status: 'NO', code: 'ALREADYEXISTS', text: e.message, internal: false };
  if (e instanceof InvalidName || e instanceof NotAllowed)
    return { status: 'NO', code: 'CANNOT', text: e.message, internal: false };
  if (e instanceof QuotaExceeded) return { status: 'NO', code: 'OVERQUOTA', text: e.message, internal: false };
  if (e instanceof LimitExceeded) return { status: 'NO', code: 'LIMIT', text: e.message, internal: false };
  if (e instanceof Conflict) return { status: 'NO', code: 'INUSE', text: 'Mailbox busy, try again', internal: false };
  if (e instanceof Unavailable)
    return {
      status: 'NO',
      code: 'UNAVAILABLE',
      text: 'Storage temporarily unavailable, try again later',
      internal: true,
    };
  return {
    status: 'NO',
    code: 'SERVERBUG',
    text: 'Internal error occurred. Refer to server log for more information.',
    internal: true,
  };
}
