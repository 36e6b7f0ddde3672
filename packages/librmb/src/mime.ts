/**
 * MIME structure of a message, computed once at save (RFC 2045/2046, RFC 3501 §6.4.5 / §7.4.2):
 * byte offsets of every part's header and body (so FETCH BODY[section] is one ranged read), the
 * fields BODYSTRUCTURE and ENVELOPE are built from, and the decoded header fields SEARCH needs.
 * Content-Type and Content-Disposition are read by mime-params.ts, other header values with
 * `libmime` and addresses with nodemailer's `addressparser`; the
 * structural split (where parts start and end) is done here because IMAP needs exact offsets
 * into the unmodified bytes. Broken MIME never throws: it yields the best structure possible.
 */
import iconv from 'iconv-lite';
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { parseContentType, parseDisposition } from './mime-params.js';
import { cutAtSyntaxError, withoutComments } from './address-list.js';

/** An IMAP address: (name adl mailbox host); a group start has host null and mailbox = group name. */
export interface ImapAddress {
  name: string | null;
  /** Source route (RFC 5322 obs-route "@a,@b"), as written, or null. */
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** The ENVELOPE fields (RFC 3501 §7.4.2), strings as they appear in the header (unfolded). */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: ImapAddress[] | null;
  sender: ImapAddress[] | null;
  replyTo: ImapAddress[] | null;
  to: ImapAddress[] | null;
  cc: ImapAddress[] | null;
  bcc: ImapAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** One MIME part. Offsets are bytes from the start of the whole message. */
export interface MimePart {
  /** Offset of the part's header (its MIME header for a body part). */
  headerStart: number;
  /** Offset of the body (just after the blank line ending the header). */
  bodyStart: number;
  /** Offset just past the body. */
  bodyEnd: number;
  /** Body lines: the number of LF in the body (see countLines). */
  lines: number;
  /** Lower-case media type and subtype, e.g. "text", "plain". */
  type: string;
  subtype: string;
  /** Content-Type parameters, names lower-cased, in header order. */
  params: [string, string][];
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as given (upper-cased), default "7BIT". */
  encoding: string;
  md5: string | null;
  disposition: { type: string; params: [string, string][] } | null;
  language: string[] | null;
  location: string | null;
  /** Sub-parts of a multipart. */
  children?: MimePart[];
  /** The encapsulated message of a message/rfc822 (or message/global) part. */
  message?: { envelope: Envelope; root: MimePart };
}

/** Decoded header values SEARCH and SORT use (RFC 3501 §6.4.4, RFC 5256). */
export interface SearchFields {
  from: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  /** Date header as ms since epoch, null when missing or unparseable (see parseMessageDate). */
  date: number | null;
  /**
   * The Date header's own calendar day, as ms since epoch of that day's UTC midnight: what
   * SENTBEFORE/SENTON/SENTSINCE compare ("disregarding time and timezone", RFC 3501 §6.4.4).
   * Absent in metadata written before it existed.
   */
  dateDay?: number | null;
  messageId: string;
  inReplyTo: string;
  references: string;
}

/** Everything about a message computed at save; stored as the mail object's `rmb.meta` xattr. */
export interface MessageMeta {
  size: number;
  envelope: Envelope;
  root: MimePart;
  search: SearchFields;
}

interface HeaderField {
  name: string;
  value: string;
}

/**
 * What the parser reads: a whole message (a Buffer) or a sparse record of a streamed one
 * (mime-stream.ts) that keeps header blocks and delimiter lines and counts the rest.
 */
export interface MessageSource {
  /** Size of the message in bytes. */
  readonly length: number;
  /** Byte at offset `i` (undefined past the end). */
  at(i: number): number | undefined;
  /** First offset >= `from` where `pat` starts, or -1. */
  indexOf(pat: Buffer, from: number): number;
  /** Bytes [s, e). */
  slice(s: number, e: number): Buffer;
  /** Number of LF bytes in [s, e). */
  lfCount(s: number, e: number): number;
}

/** A whole message in memory as a MessageSource. */
export function bufferSource(buf: Buffer): MessageSource {
  return {
    length: buf.length,
    at: (i) => buf[i],
    indexOf: (pat, from) => buf.indexOf(pat, from),
    slice: (s, e) => buf.subarray(s, e),
    lfCount: (s, e) => {
      let n = 0;
      for (let i = buf.indexOf(0x0a, s); i >= 0 && i < e; i = buf.indexOf(0x0a, i + 1)) n++;
      return n;
    },
  };
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/** First offset of `pat` in [from, to) (the match may not run past `to`), or -1. */
function bounded(buf: MessageSource, pat: Buffer, from: number, to: number): number {
  if (to - from < pat.length) return -1;
  const i = buf.slice(from, to).indexOf(pat);
  return i < 0 ? -1 : from + i;
}

/** Find the end of the header block starting at `start`: returns [headerEnd, bodyStart]. */
function headerBounds(buf: MessageSource, start: number, end: number): [number, number] {
  if (start >= end) return [end, end];
  if (buf.at(start) === 0x0a) return [start, start + 1];
  if (buf.at(start) === 0x0d && buf.at(start + 1) === 0x0a) return [start, start + 2];
  const a = buf.indexOf(CRLFCRLF, start);
  // stored mail has CRLF line ends, so a bare "\n\n" is rare: look for it only before the first
  // CRLFCRLF (a search to the end of the message for every part made parsing quadratic in parts)
  const b = a >= 0 ? bounded(buf, LFLF, start, a + 2) : buf.indexOf(LFLF, start);
  const ca = a >= 0 && a + 4 <= end ? a : -1;
  const cb = b >= 0 && b + 2 <= end ? b : -1;
  if (ca >= 0 && (cb < 0 || ca <= cb)) return [ca + 2, ca + 4];
  if (cb >= 0) return [cb + 1, cb + 2];
  return [end, end];
}

/** Split a header block into unfolded fields (names as written). Tolerates junk lines. */
export function parseHeaderFields(block: Buffer): HeaderField[] {
  const text = block.toString('binary');
  const out: HeaderField[] = [];
  // a continuation line belongs to the field before it; one at the start or after a junk line
  // (no colon) belongs to nothing and is dropped with it, as Dovecot does
  let cur: HeaderField | null = null;
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    if (line[0] === ' ' || line[0] === '\t') {
      // a continuation line of white space only adds nothing (Dovecot drops it too)
      if (cur && line.trim()) cur.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      cur = null;
      continue;
    }
    // the value starts after the white space following the colon and keeps its trailing white
    // space: ENVELOPE reports it as written (RFC 3501 §7.4.2), as Dovecot does
    cur = { name: line.slice(0, colon).trim(), value: line.slice(colon + 1).replace(/^[ \t]+/, '') };
    out.push(cur);
  }
  // header bytes are read as latin1; re-decode as UTF-8 where valid (RFC 6532 headers)
  for (const f of out) {
    const raw = Buffer.from(f.value, 'binary');
    const utf8 = raw.toString('utf8');
    if (!utf8.includes('\ufffd')) f.value = utf8;
  }
  return out;
}

function first(fields: HeaderField[], name: string): string | null {
  const f = fields.find((x) => x.name.toLowerCase() === name);
  return f ? f.value : null;
}

/**
 * The last field of this name: a header repeated against RFC 5322 §3.6 counts as its last instance, as Dovecot reads
 * it.
 */
function last(fields: HeaderField[], name: string): string | null {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i].name.toLowerCase() === name) return fields[i].value;
  return null;
}

/** Every address field of this name joined into one list (repeated To/Cc/... headers, as Dovecot reads them). */
function allAddresses(fields: HeaderField[], name: string): string | null {
  const v = fields
    .filter((x) => x.name.toLowerCase() === name)
    .map((x) => x.value)
    .filter((x) => x.trim());
  return v.length ? v.join(', ') : null;
}

/**
 * The Content-Disposition of a part (RFC 2183): a later field replaces an earlier one that had no
 * parameters ("inline" then "attachment; filename=..."), as Dovecot reads repeated fields; null
 * without the field.
 */
function dispositionOf(fields: HeaderField[]): MimePart['disposition'] {
  let d: MimePart['disposition'] = null;
  for (const f of fields) {
    if (f.name.toLowerCase() !== 'content-disposition' || (d && d.params.length)) continue;
    d = parseDisposition(f.value);
  }
  return d;
}

function toImapAddresses(value: string | null): ImapAddress[] | null {
  if (value === null || !value.trim()) return null;
  let parsed: ReturnType<typeof addressparser>;
  value = cutAtSyntaxError(value);
  try {
    parsed = addressparser(value);
  } catch {
    return null;
  }
  const out: ImapAddress[] = [];
  const bare = withoutComments(value).replace(/\s+/g, ' ');
  // source routes ("<@a.example,@b.example:user@c.example>", RFC 5322 §4.4 obs-route), which the
  // address parser drops: address -> route, for the adl field
  const routes = new Map<string, string>();
  for (const m of value.matchAll(/<\s*(@[^<>:]*):\s*([^<>\s]+)\s*>/g))
    routes.set(m[2].toLowerCase(), m[1].replace(/\s+/g, ''));
  const one = (a: { name?: string; address?: string }) => {
    // an entry that is only a comment ("(no To-header on input)") is no address (RFC 5322 §3.2.2)
    if (!a.address && a.name && value.includes('(') && !bare.includes(a.name.replace(/\s+/g, ' '))) return;
    // a lone word without "@" ("From: Whomever") is a local part without a domain (RFC 5322
    // obs-addr / Dovecot), not a display name
    if (!a.address && a.name && /^[^\s@<>"]+$/.test(a.name)) a = { address: a.name, name: '' };
    const addr = a.address ?? '';
    const at = addr.lastIndexOf('@');
    // addressparser drops a quoted display name that looks like an address ("a@b" <a@b>) and trims
    // the spaces inside quotes: take a quoted display name as written
    let name = a.name || null;
    // "a@b c@d" without angle brackets: addressparser makes the second a display name; it is junk
    if (name && !value.includes('<') && /^[^\s"]+@[^\s"]+$/.test(name)) name = null;
    if (addr && value.includes('"')) {
      const quoted = new RegExp(
        `"((?:[^"\\\\]|\\\\.)*)"\\s*<\\s*${addr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*>`,
      ).exec(value);
      if (quoted && quoted[1]) name = quoted[1].replace(/\\(.)/g, '$1');
    }
    // a missing domain or local part is named, as Dovecot does: a NIL host marks a group (RFC 3501 §7.4.2)
    const mailbox = at >= 0 ? addr.slice(0, at) : addr;
    const host = at >= 0 ? addr.slice(at + 1) : '';
    out.push({
      name,
      adl: routes.get(addr.toLowerCase()) ?? null,
      mailbox: mailbox || 'MISSING_MAILBOX',
      host: host || 'MISSING_DOMAIN',
    });
  };
  for (const a of parsed) {
    if ('group' in a && Array.isArray(a.group)) {
      out.push({ name: null, adl: null, mailbox: a.name ?? '', host: null });
      for (const g of a.group) one(g);
      out.push({ name: null, adl: null, mailbox: null, host: null });
    } else one(a as { name?: string; address?: string });
  }
  return out.length ? out : null;
}

function envelopeOf(fields: HeaderField[]): Envelope {
  const from = toImapAddresses(allAddresses(fields, 'from'));
  return {
    date: last(fields, 'date'),
    // the subject without trailing white space, the other strings as written (as Dovecot reports them)
    subject: last(fields, 'subject')?.replace(/[ \t]+$/, '') ?? null,
    from,
    sender: toImapAddresses(allAddresses(fields, 'sender')) ?? from,
    replyTo: toImapAddresses(allAddresses(fields, 'reply-to')) ?? from,
    to: toImapAddresses(allAddresses(fields, 'to')),
    cc: toImapAddresses(allAddresses(fields, 'cc')),
    bcc: toImapAddresses(allAddresses(fields, 'bcc')),
    inReplyTo: last(fields, 'in-reply-to'),
    messageId: last(fields, 'message-id'),
  };
}

/** Decode RFC 2047 encoded words; never throws. */
export function decodeWords(s: string): string {
  // libmime leaves UTF-7 encoded words (RFC 2152, seen from Outlook) alone: iconv-lite decodes them;
  // the "-i"/"-e" variants of ISO-8859-6/8 (RFC 1556: logical/explicit direction) are the same characters
  const pre = s
    .replace(/=\?(iso-8859-[68])-[ie]\?/gi, '=?$1?')
    .replace(/=\?utf-7\?([qb])\?([^?]*)\?=/gi, (all, enc: string, text: string) => {
      try {
        const bytes =
          enc.toLowerCase() === 'b'
            ? Buffer.from(text, 'base64')
            : Buffer.from(
                text
                  .replace(/_/g, ' ')
                  .replace(/=([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
                'latin1',
              );
        return iconv.decode(bytes, 'utf7');
      } catch {
        return all;
      }
    });
  try {
    return libmime.decodeWords(pre);
  } catch {
    return pre;
  }
}

/**
 * Body lines as BODYSTRUCTURE reports them (RFC 3501 §7.4.2 body-fld-lines): the number of line
 * ends (LF) in the body, as Dovecot and Cyrus count; a last line without one (the CRLF before a
 * boundary belongs to the delimiter, RFC 2046 §5.1.1) is not counted.
 */
function countLines(buf: MessageSource, start: number, end: number): number {
  return end > start ? buf.lfCount(start, end) : 0;
}

/** A multipart delimiter line (RFC 2046 §5.1.1) found in a message. */
interface Delim {
  /** The boundary it names (which enclosing multipart it belongs to). */
  boundary: string;
  /** Where the part before it ends: the start of the line, less the CRLF that belongs to it. */
  before: number;
  /** Where the line starts (its "--"). */
  line: number;
  /** Where the next part starts: just past the line. */
  after: number;
  /** A close delimiter ("--boundary--"). */
  close: boolean;
}

const DASHES = Buffer.from('--', 'binary');
/**
 * Bytes of a boundary that count: RFC 2046 §5.1.1 allows 70; longer ones (broken mailers) are
 * compared on their first 80 bytes, as Dovecot does, so a delimiter line written with the first
 * 80 still matches.
 */
const MAX_BOUNDARY_BYTES = 80;
const LF = Buffer.from('\n', 'binary');

/**
 * The first delimiter line in [from, end) of any of `boundaries` (innermost first). A line may
 * carry junk after the boundary (RFC 2046 allows only white space; broken mailers add more), so
 * several boundaries can match one line when one is a prefix of another: the longest match wins,
 * and among exact matches the innermost (nested multiparts reusing a boundary), as Dovecot
 * decides. Null when there is none.
 */
function findDelim(buf: MessageSource, from: number, end: number, boundaries: string[]): Delim | null {
  if (!boundaries.length) return null;
  const bbs = boundaries.map((b) => Buffer.from(b, 'binary').subarray(0, MAX_BOUNDARY_BYTES));
  const longest = Math.max(...bbs.map((b) => b.length));
  let pos = from;
  while (pos < end) {
    const i = buf.indexOf(DASHES, pos);
    if (i < 0 || i + 2 > end) return null;
    pos = i + 1;
    if (i !== from && buf.at(i - 1) !== 0x0a) continue;
    // the line after "--" without its line end; only its first bytes are compared
    const lf = buf.indexOf(LF, i + 2);
    const lineEnd = lf < 0 || lf >= end ? end : lf;
    const lineLen = lineEnd - (i + 2) - (lineEnd > i + 2 && buf.at(lineEnd - 1) === 0x0d ? 1 : 0);
    const line = buf.slice(i + 2, i + 2 + Math.min(lineLen, longest));
    const dashesAt = i + 2 + lineLen - 2;
    const trailingDashes = lineLen > 2 && buf.at(dashesAt) === 0x2d && buf.at(dashesAt + 1) === 0x2d;
    let best = -1;
    for (let n = 0; n < bbs.length; n++) {
      const bb = bbs[n];
      if (bb.length > line.length || !line.subarray(0, bb.length).equals(bb)) continue;
      if (best < 0 || bbs[best].length < bb.length) best = n;
      // an exact delimiter (nothing after the boundary but "--") cannot be beaten
      if (best === n && (bb.length === lineLen || (trailingDashes && bb.length === lineLen - 2))) break;
    }
    if (best < 0) continue;
    const k = i + 2 + bbs[best].length;
    const close = buf.at(k) === 0x2d && buf.at(k + 1) === 0x2d;
    let before = i;
    if (before > from && buf.at(before - 1) === 0x0a) before--;
    if (before > from && buf.at(before - 1) === 0x0d) before--;
    return { boundary: boundaries[best], before, line: i, after: Math.min(end, lineEnd + 1), close };
  }
  return null;
}

/**
 * Parse the part starting at `start`. `outer` are the boundaries of the enclosing multiparts,
 * innermost first: the part ends at the first delimiter line of one of them (`next`, handed back
 * to the caller), or at `end`.
 */
function parsePart(
  buf: MessageSource,
  start: number,
  end: number,
  defaultType: string,
  depth: number,
  outer: string[] = [],
): { part: MimePart; fields: HeaderField[]; next: Delim | null } {
  const stop = findDelim(buf, start, end, outer);
  const [hEnd, bodyStart] = headerBounds(buf, start, stop ? stop.before : end);
  // a delimiter line before the blank line ends the part inside its header: its body never
  // starts, so a multipart's own boundary never applies (Dovecot reads it so too)
  const headerCut = stop !== null && bodyStart >= stop.before && headerBounds(buf, start, stop.line)[0] === stop.line;
  const fields = parseHeaderFields(buf.slice(start, hEnd));
  const ctRaw = first(fields, 'content-type');
  let type = defaultType.split('/')[0];
  let subtype = defaultType.split('/')[1];
  let params: [string, string][] = [];
  const ct = ctRaw === null ? null : parseContentType(ctRaw);
  // an invalid Content-Type (not "token/token" then parameters) means the default (RFC 2045 §5.2)
  if (ct) ({ type, subtype, params } = ct);
  // the default charset (RFC 2045 §5.2) goes after the parameters given, as Dovecot lists it
  if (type === 'text' && !params.some(([k]) => k === 'charset')) params.push(['charset', 'us-ascii']);
  const disposition = dispositionOf(fields);
  const lang = first(fields, 'content-language');
  const part: MimePart = {
    headerStart: start,
    bodyStart,
    bodyEnd: end,
    lines: 0,
    type,
    subtype,
    params,
    id: first(fields, 'content-id'),
    description: first(fields, 'content-description'),
    encoding: transferEncoding(first(fields, 'content-transfer-encoding')),
    md5: first(fields, 'content-md5'),
    disposition,
    language: lang ? lang.split(/[\s,]+/).filter(Boolean) : null,
    location: first(fields, 'content-location'),
  };
  const boundary = params.find(([k]) => k === 'boundary')?.[1];
  let next = stop;
  part.bodyEnd = stop ? Math.max(bodyStart, stop.before) : end;
  if (type === 'multipart' && boundary && depth < 100 && !headerCut) {
    const childDefault = subtype === 'digest' ? 'message/rfc822' : 'text/plain';
    const bounds = [boundary, ...outer];
    part.children = [];
    // the preamble runs to the first delimiter; each part to the next one of this multipart or
    // of an enclosing one; after the close delimiter the epilogue runs to an enclosing one
    let d = findDelim(buf, bodyStart, end, bounds);
    while (d && d.boundary === boundary && !d.close && part.children.length < 10000) {
      const child = parsePart(buf, d.after, end, childDefault, depth + 1, bounds);
      part.children.push(child.part);
      d = child.next;
    }
    next = d && d.boundary === boundary && d.close ? findDelim(buf, d.after, end, outer) : d;
    part.bodyEnd = next ? Math.max(bodyStart, next.before) : end;
  } else if (type === 'message' && (subtype === 'rfc822' || subtype === 'global') && depth < 100) {
    const inner = parsePart(buf, bodyStart, end, 'text/plain', depth + 1, outer);
    part.message = { envelope: envelopeOf(inner.fields), root: inner.part };
    next = inner.next;
    part.bodyEnd = next ? Math.max(bodyStart, next.before) : end;
    part.lines = countLines(buf, bodyStart, part.bodyEnd);
  }
  // a multipart without a boundary or without parts still has one (RFC 2046 §5.1.1 requires one
  // body part): an empty text/plain at its end, as Dovecot shows it, so that part 1 can be fetched
  if (type === 'multipart' && !part.children?.length)
    part.children = [parsePart(buf, part.bodyEnd, part.bodyEnd, 'text/plain', depth + 1).part];
  if (type === 'text') part.lines = countLines(buf, bodyStart, part.bodyEnd);
  return { part, fields, next };
}

function joinAddresses(v: string | null): string {
  return v ? decodeWords(v) : '';
}

/** Parse a whole message. Never throws; `buf` is the exact stored bytes. */
export function parseMessage(buf: Buffer): MessageMeta {
  return parseSource(bufferSource(buf));
}

/**
 * The Content-Transfer-Encoding as BODYSTRUCTURE reports it: the token upper-cased; a value that
 * is not a token ("quoted printable", "text/html", "8 bit", empty) is no encoding at all and the
 * default 7BIT applies (RFC 2045 §6.1), as Dovecot reports it.
 */
function transferEncoding(raw: string | null): string {
  const v = (raw ?? '').trim();
  return /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/.test(v) ? v.toUpperCase() : '7BIT';
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** Month names as RFC 5322 §3.3 and IMAP's date-time (RFC 3501 §9) write them. */
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** The month (0-11) of a three-letter name, any case, or -1. */
export const monthOf = (name: string): number => MONTHS.findIndex((m) => m.toLowerCase() === name.toLowerCase());
const ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -500,
  edt: -400,
  cst: -600,
  cdt: -500,
  mst: -700,
  mdt: -600,
  pst: -800,
  pdt: -700,
};

// [day-name ","] day month year hour ":" minute [":" second] [zone] (RFC 5322 §3.3, leniently)
const DATE_TIME = new RegExp(
  '^(?:([a-z]{3})[a-z]*\\s*,?\\s*)?(\\d{1,2})\\s*-?\\s*([a-z]{3})[a-z]*\\s*-?\\s*(\\d{2,4})' +
    '\\s+(\\d{1,2})\\s*:\\s*(\\d{2})(?:\\s*:\\s*(\\d{2}))?(?:\\s*([+-]\\d{4}|[a-z]+\\d*))?$',
);

/**
 * Parse an RFC 5322 date-time (§3.3, with the obsolete forms of §4.3: two-digit years, named and
 * military zones, comments, no seconds). Returns the instant (ms since epoch) and the day as
 * written (ms of that day's UTC midnight), or null when it is not such a date (no year, AM/PM
 * forms, ...); SORT then uses INTERNALDATE (RFC 5256 §3). A zone that is not understood counts as
 * +0000 ("-0000", RFC 5322 §4.3), as Dovecot reads it.
 */
export function parseMessageDate(raw: string): { ms: number; day: number } | null {
  let s = raw;
  for (let i = 0; i < 5 && /\([^()]*\)/.test(s); i++) s = s.replace(/\([^()]*\)/g, ' ');
  s = s.replace(/\s+/g, ' ').trim().toLowerCase();
  const m = DATE_TIME.exec(s);
  if (!m) return null;
  if (m[1] && !DAYS.includes(m[1])) return null;
  const mon = monthOf(m[3]);
  if (mon < 0) return null;
  let year = Number(m[4]);
  if (m[4].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[4].length === 3) year += 1900;
  const day = Number(m[2]);
  const [hh, mm, ss] = [Number(m[5]), Number(m[6]), Number(m[7] ?? 0)];
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return null;
  const z = m[8] ?? '';
  const hhmm = /^[+-]\d{4}$/.test(z) ? Number(z) : (ZONES[z] ?? 0);
  const offsetMin = Math.trunc(hhmm / 100) * 60 + (hhmm % 100);
  const dayMs = Date.UTC(year, mon, day);
  return { ms: dayMs + ((hh * 60 + mm - offsetMin) * 60 + ss) * 1000, day: dayMs };
}

/** Parse a message from any MessageSource (a Buffer, or a streamed message's sparse record). */
export function parseSource(buf: MessageSource): MessageMeta {
  const { part, fields } = parsePart(buf, 0, buf.length, 'text/plain', 0);
  const dateRaw = first(fields, 'date');
  const date = dateRaw ? parseMessageDate(dateRaw) : null;
  return {
    size: buf.length,
    envelope: envelopeOf(fields),
    root: part,
    search: {
      from: joinAddresses(first(fields, 'from')),
      to: joinAddresses(first(fields, 'to')),
      cc: joinAddresses(first(fields, 'cc')),
      bcc: joinAddresses(first(fields, 'bcc')),
      subject: decodeWords(first(fields, 'subject') ?? ''),
      date: date?.ms ?? null,
      dateDay: date?.day ?? null,
      messageId: first(fields, 'message-id') ?? '',
      inReplyTo: first(fields, 'in-reply-to') ?? '',
      references: first(fields, 'references') ?? '',
    },
  };
}

/**
 * The part addressed by an IMAP section part number (RFC 3501 §6.4.5), e.g. [1, 2]; [] is the
 * whole message. Returns null when no such part exists. For a non-multipart message, part 1 is
 * its body; parts of an encapsulated message/rfc822 continue into that message.
 */
export function findPart(root: MimePart, path: number[]): MimePart | null {
  let cur: MimePart = root;
  for (const [depth, n] of path.entries()) {
    let container: MimePart = cur;
    // the message itself is not an encapsulated message: part 1 of a message whose body is a
    // message/rfc822 is that whole body (RFC 3501 §6.4.5); deeper numbers go inside it
    if (container.message && depth > 0) container = container.message.root;
    if (container.children) {
      const next = container.children[n - 1];
      if (!next) return null;
      cur = next;
    } else {
      if (n !== 1) return null;
      cur = container;
    }
  }
  return cur;
}
