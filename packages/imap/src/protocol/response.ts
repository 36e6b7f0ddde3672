/**
 * Tagged responses and their response codes (RFC 3501 §7.1, RFC 9051 §7.1, RFC 5530 and the codes
 * of the extensions rmb implements), as one typed union: a code that is not listed here does not
 * compile. Pure.
 */

/** Response codes without arguments. */
export type SimpleCode =
  | 'ALERT'
  | 'ALREADYEXISTS' // RFC 5530
  | 'AUTHENTICATIONFAILED' // RFC 5530
  | 'AUTHORIZATIONFAILED' // RFC 5530
  | 'CANNOT' // RFC 5530
  | 'CLOSED' // RFC 7162 §3.2.11
  | 'COMPRESSIONACTIVE' // RFC 4978
  | 'EXPUNGEISSUED' // RFC 5530
  | 'INUSE' // RFC 5530
  | 'LIMIT' // RFC 5530
  | 'NONEXISTENT' // RFC 5530
  | 'NOPERM' // RFC 5530
  | 'OVERQUOTA' // RFC 5530, RFC 9208
  | 'PRIVACYREQUIRED' // RFC 5530
  | 'READ-ONLY'
  | 'READ-WRITE'
  | 'SERVERBUG' // RFC 5530
  | 'TOOBIG' // RFC 4469, RFC 7889
  | 'TRYCREATE'
  | 'UNAVAILABLE' // RFC 5530
  | 'UNKNOWN-CTE' // RFC 3516
  | 'USEATTR' // RFC 6154
  | 'METADATA TOOMANY'; // RFC 5464

/** Response codes with arguments, as written on the wire. */
export type CodeWithArgs =
  | `APPENDUID ${number} ${string}` // RFC 4315
  | `COPYUID ${number} ${string} ${string}` // RFC 4315
  | `BADCHARSET (${string})` // RFC 3501 §7.1
  | `BADURL ${string}` // RFC 4469
  | `CAPABILITY ${string}`
  | `HIGHESTMODSEQ ${number}` // RFC 7162
  | `MAILBOXID (${string})` // RFC 8474
  | `METADATA LONGENTRIES ${number}` // RFC 5464
  | `METADATA MAXSIZE ${number}` // RFC 5464
  | `MODIFIED ${string}` // RFC 7162
  | `PERMANENTFLAGS (${string})`
  | `UIDNEXT ${number}`
  | `UIDVALIDITY ${number}`
  | `UNSEEN ${number}`;

/** Every response code rmb sends. */
export type ResponseCode = SimpleCode | CodeWithArgs;

/** The status of a tagged response. */
export type Status = 'OK' | 'NO' | 'BAD';

/** A tagged response line, CRLF included: `tag status [code] text`. */
export function taggedLine(tag: string, status: Status, text: string, code?: ResponseCode | null): string {
  return `${tag} ${status} ${code ? `[${code}] ` : ''}${text}\r\n`;
}
