/**
 * Reading the values of Content-Type (RFC 2045 §5.1) and Content-Disposition (RFC 2183 §2) the
 * way BODYSTRUCTURE reports them (RFC 3501 §7.4.2, RFC 9051 §7.5.2): RFC 822 lexical tokens
 * (comments and folding skipped, quoted strings unquoted), MIME tokens ending at the first
 * tspecial, parameters in header order and as written. RFC 2231 continuations are joined into one
 * parameter; charset/language-encoded values are passed on raw under the name with a trailing
 * `*` (RFC 2231 §4 leaves decoding to the client, and a decoded value need not be ASCII, which a
 * quoted string cannot carry). Broken parameters are skipped up to the next `;`.
 *
 * This is part of the IMAP storage model, not general MIME parsing: libmime (used elsewhere)
 * keeps the rest of an unquoted value after a space or tspecial and decodes RFC 2231, so its
 * answers differ from what RFC 2045 defines and what IMAP servers (Dovecot) report. ADR 0006.
 * Header values are `binary` strings: one character per byte.
 */

import { commentEnd, quotedEnd } from './rfc822-lexical.js';

/** RFC 2045 §5.1 tspecials, plus space and controls: the characters that end a MIME token. */
const TSPECIALS = new Set('()<>@,;:\\"/[]?= \t\r\n');

function isTokenChar(c: string): boolean {
  const code = c.charCodeAt(0);
  // bytes >= 0x80 (UTF-8, RFC 6532) are taken as token characters
  return code > 0x20 && code !== 0x7f && !TSPECIALS.has(c);
}

/** A cursor over a header value with the RFC 822 lexical rules MIME headers use (RFC 2045 §5.1). */
class Lexer {
  i = 0;
  /** Set when a comment was not closed. */
  broken = false;
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.i >= this.s.length;
  }
  ch(): string {
    return this.s[this.i];
  }

  /**
   * Skip white space, line breaks and (nested) comments. Returns false when a comment is not
   * closed (the rest of the value is then unusable).
   */
  skipCfws(): boolean {
    while (!this.done) {
      const c = this.ch();
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
        this.i++;
        continue;
      }
      if (c !== '(') break;
      const end = commentEnd(this.s, this.i);
      if (end < 0) {
        this.i = this.s.length;
        this.broken = true;
        return false;
      }
      this.i = end;
    }
    return true;
  }

  /** A MIME token (possibly empty), then any CFWS after it. */
  token(): string {
    const start = this.i;
    while (!this.done && isTokenChar(this.ch())) this.i++;
    const t = this.s.slice(start, this.i);
    this.skipCfws();
    return t;
  }

  /**
   * A quoted string at the cursor (on its opening quote), unescaped, with folding line breaks
   * removed (RFC 5322 §3.2.4), then any CFWS after it. Null when it is not closed.
   */
  quoted(): string | null {
    const end = quotedEnd(this.s, this.i);
    if (end < 0) {
      this.i = this.s.length;
      return null;
    }
    const out = this.s
      .slice(this.i + 1, end - 1)
      .replace(/[\r\n]/g, '')
      .replace(/\\(.)/gs, '$1');
    this.i = end;
    this.skipCfws();
    return out;
  }
}

/** One `;` parameter at the cursor, or null when it is broken (the cursor stays where it broke). */
function parameter(lx: Lexer): [string, string] | null {
  if (lx.ch() !== ';') return null;
  lx.i++;
  if (!lx.skipCfws() || lx.done) return null;
  const key = lx.token();
  if (!key || lx.ch() !== '=') return null;
  lx.i++;
  if (!lx.skipCfws()) return null;
  if (lx.done) return [key, ''];
  if (lx.ch() === '"') {
    const v = lx.quoted();
    return v === null ? null : [key, v];
  }
  if (lx.ch() === '=') {
    // an unquoted encoded word (name==?utf-8?b?...?=): taken up to white space or `;`
    const start = lx.i;
    while (!lx.done && !/[;\s]/.test(lx.ch())) lx.i++;
    const v = lx.s.slice(start, lx.i);
    lx.skipCfws();
    return [key, v];
  }
  return [key, lx.token()];
}

interface Rfc2231Piece {
  name: string;
  index: number;
  extended: boolean;
  value: string;
}

/**
 * Join RFC 2231 §3 continuations (`name*0`, `name*1*`, ...) into one parameter; `name*` or any
 * encoded piece makes the joined name `name*` and its value stays encoded (unencoded pieces have
 * their `%` escaped, and an unencoded first piece gets an empty `''` charset/language prefix). A
 * name with missing or repeated indexes is passed on piece by piece. Plain parameters come first,
 * in header order, then the joined ones by name.
 */
function joinContinuations(params: [string, string][]): [string, string][] {
  const plain: [string, string][] = [];
  const pieces: Rfc2231Piece[] = [];
  for (const [key, value] of params) {
    const m = /^([^*]+)\*(\d*)(\*?)$/.exec(key);
    if (!m || (m[2] === '' && m[3] === '*')) {
      plain.push([key, value]);
      continue;
    }
    pieces.push(
      m[2] === ''
        ? { name: m[1], index: 0, extended: true, value }
        : { name: m[1], index: Number(m[2]), extended: m[3] === '*', value },
    );
  }
  if (!pieces.length) return plain;
  pieces.sort((a, b) =>
    a.name.toLowerCase() < b.name.toLowerCase()
      ? -1
      : a.name.toLowerCase() > b.name.toLowerCase()
        ? 1
        : a.index - b.index,
  );
  const out = plain;
  for (let i = 0; i < pieces.length;) {
    let j = i;
    let ok = true;
    let extended = false;
    while (j < pieces.length && pieces[j].name.toLowerCase() === pieces[i].name.toLowerCase()) {
      if (pieces[j].index !== j - i) ok = false;
      extended ||= pieces[j].extended;
      j++;
    }
    const group = pieces.slice(i, j);
    if (!ok) {
      for (const p of group) out.push([`${p.name}*${p.index}${p.extended ? '*' : ''}`, p.value]);
    } else {
      let v = !group[0].extended && extended ? "''" : '';
      for (const p of group) v += !p.extended && extended ? p.value.replace(/%/g, '%25') : p.value;
      out.push([extended ? `${group[0].name}*` : group[0].name, v]);
    }
    i = j;
  }
  return out;
}

/** Parameters from the cursor to the end: broken ones are skipped up to the next `;`. */
function parameters(lx: Lexer): [string, string][] {
  const out: [string, string][] = [];
  while (!lx.done) {
    const p = parameter(lx);
    if (p) out.push(p);
    // a broken parameter is skipped up to the next ";" (which may end it)
    else if (!lx.done && lx.ch() !== ';') lx.i++;
  }
  return joinContinuations(out);
}

/** A parsed Content-Type: lower-case type and subtype, parameters as written (names lower-cased). */
export interface ContentType {
  type: string;
  subtype: string;
  params: [string, string][];
}

/**
 * Parse a Content-Type value (RFC 2045 §5.1): `type "/" subtype *(";" parameter)`. Returns null
 * when it is not `token/token` followed by parameters or nothing: such a header is syntactically
 * invalid and the default applies (RFC 2045 §5.2).
 */
export function parseContentType(raw: string): ContentType | null {
  const lx = new Lexer(raw);
  if (!lx.skipCfws()) return null;
  const type = lx.token();
  if (!type || lx.ch() !== '/') return null;
  lx.i++;
  if (!lx.skipCfws()) return null;
  const subtype = lx.token();
  if (!subtype || lx.broken || (!lx.done && lx.ch() !== ';')) return null;
  return { type: type.toLowerCase(), subtype: subtype.toLowerCase(), params: lowerNames(parameters(lx)) };
}

/**
 * Parse a Content-Disposition value (RFC 2183 §2): the disposition type as written (empty when
 * the header has none: a present header is still reported, as Dovecot does) and its parameters.
 */
export function parseDisposition(raw: string): { type: string; params: [string, string][] } {
  const lx = new Lexer(raw);
  if (!lx.skipCfws()) return { type: '', params: [] };
  const type = lx.token();
  return { type, params: lowerNames(parameters(lx)) };
}

function lowerNames(params: [string, string][]): [string, string][] {
  return params.map(([k, v]) => [k.toLowerCase(), v]);
}
