/**
 * Lexical checks on an RFC 5322 §3.4 address list before nodemailer's `addressparser` reads it.
 * `addressparser` recovers from every syntax error by gluing the rest into a display name; IMAP
 * ENVELOPE (RFC 3501 §7.4.2) has no form for such junk, and Dovecot stops reading the list at the
 * first error instead. These helpers let mime.ts do the same, and drop entries that are only
 * comments (RFC 5322 §3.2.2: a comment is not an address).
 */

import { commentEnd, quotedEnd } from './rfc822-lexical.js';

interface AddrToken {
  t: 'atom' | 'quoted' | 'special';
  v: string;
  pos: number;
  end: number;
}

/** Tokens of an address list: atoms, quoted strings and specials; white space and comments skipped. */
function tokens(value: string): AddrToken[] {
  const out: AddrToken[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c === '(') {
      const end = commentEnd(value, i);
      i = end < 0 ? value.length : end;
      continue;
    }
    if (c === '"') {
      const start = i;
      const end = quotedEnd(value, i);
      i = end < 0 ? value.length : end;
      out.push({ t: 'quoted', v: value.slice(start, i), pos: start, end: i });
      continue;
    }
    if ('<>,;:@.[]'.includes(c)) {
      out.push({ t: 'special', v: c, pos: i, end: i + 1 });
      i++;
      continue;
    }
    const start = i;
    while (i < value.length && !' \t\r\n()"<>,;:@.[]'.includes(value[i])) i++;
    out.push({ t: 'atom', v: value.slice(start, i), pos: start, end: i });
  }
  return out;
}

/**
 * The address list up to its first syntax error of the two kinds broken mailers write: something
 * other than "," or ";" after an angle address (`A <a@x> B <b@x>`), and an angle address after a
 * bare addr-spec (`a@x <b@x>`). What follows is dropped, as Dovecot drops it.
 */
export function cutAtSyntaxError(value: string): string {
  const ts = tokens(value);
  let inAngle = false;
  let elementHasAt = false;
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k];
    if (t.t !== 'special') continue;
    if (t.v === '<' && !inAngle) {
      if (elementHasAt) return value.slice(0, t.pos).trimEnd();
      inAngle = true;
    } else if (t.v === '>' && inAngle) {
      inAngle = false;
      const next = ts[k + 1];
      if (next && !(next.t === 'special' && (next.v === ',' || next.v === ';'))) return value.slice(0, t.end);
    } else if (!inAngle && (t.v === ',' || t.v === ':' || t.v === ';')) {
      elementHasAt = false;
    } else if (!inAngle && t.v === '@') {
      elementHasAt = true;
    }
  }
  return value;
}

/** The text of an address list without its comments, white space runs as one space. */
export function withoutComments(value: string): string {
  return tokens(value)
    .map((t) => t.v)
    .join(' ');
}
