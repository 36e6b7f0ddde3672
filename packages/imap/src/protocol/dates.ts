/**
 * IMAP dates (RFC 3501 §9): date-time ("17-Jul-1996 02:44:25 -0700", INTERNALDATE, APPEND) and date
 * ("1-Feb-1994", SEARCH). Month names come from librmb (one definition). Pure.
 */
import { MONTHS, monthOf } from '@rmb/librmb';
import { ParseError } from './tokens.js';

/** Format ms since epoch as an IMAP date-time in UTC ("02-Jan-2023 10:00:00 +0000"). */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/** Parse an IMAP date-time ("17-Jul-1996 02:44:25 -0700") to ms since epoch. Throws ParseError. */
export function parseDateTime(s: string): number {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  const mon = m ? monthOf(m[2]) : -1;
  if (!m || mon < 0) throw new ParseError('Invalid date-time');
  const utc = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const off = (Number(m[8]) * 60 + Number(m[9])) * 60000 * (m[7] === '+' ? 1 : -1);
  return utc - off;
}

/** Parse an IMAP date ("1-Feb-1994") to the UTC midnight of that day, ms. Throws ParseError. */
export function parseSearchDate(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  const mon = m ? monthOf(m[2]) : -1;
  if (!m || mon < 0) throw new ParseError(`Invalid date ${s.slice(0, 30)}`);
  return Date.UTC(Number(m[3]), mon, Number(m[1]));
}
