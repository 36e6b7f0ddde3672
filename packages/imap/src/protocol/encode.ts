/**
 * IMAP response encoding (RFC 3501 §7, §9): strings as quoted or literal, NIL, lists, and the
 * ENVELOPE and BODYSTRUCTURE forms built from librmb's stored MIME metadata. Responses are
 * arrays of chunks (strings and Buffers) so message bytes are never turned into strings. Pure.
 */
import type { Envelope, ImapAddress, MimePart } from '@rmb/librmb';

/**
 * A literal too large to hold: its size and a reader of its bytes (offset, length) -> Buffer.
 * The encoder emits it as one chunk; the session writes `{size}` and then reads and sends it
 * piece by piece, waiting for the socket to drain.
 */
export interface LazyLiteral {
  lazy: { size: number; read(offset: number, length: number): Promise<Buffer> };
}

/** A chunk of an encoded response. */
export type Chunk = string | Buffer | LazyLiteral;

/**
 * A response value: text, raw bytes (sent as a literal), a list, null (NIL), a raw atom, a lazy
 * literal, or a run (`run`: its elements one after the other with no space, as the addresses of
 * an address list "(" 1*address ")" and the parts of a multipart "(" 1*body SP subtype ...", RFC
 * 3501 §9).
 */
export type Value =
  | string
  | number
  | Buffer
  | null
  | Value[]
  | { atom: string }
  | { literal: Buffer; binary?: boolean }
  | LazyLiteral
  | { run: Value[] };

/** Raw atom (sent as is). */
export const atom = (s: string): { atom: string } => ({ atom: s });

/** Encode a text string as a quoted string when safe, else as a literal. */
function encodeString(s: string, out: Chunk[]): void {
  if (s.length < 1024 && !/[\r\n\0"\\\u0080-\uffff]/.test(s)) {
    out.push(`"${s}"`);
    return;
  }
  if (s.length < 1024 && !/[\r\n\0\u0080-\uffff]/.test(s)) {
    out.push(`"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
    return;
  }
  const b = Buffer.from(s, 'utf8');
  out.push(`{${b.length}}\r\n`, b);
}

/** Serialize a value into chunks. */
export function encodeValue(v: Value, out: Chunk[] = []): Chunk[] {
  if (v === null) out.push('NIL');
  else if (typeof v === 'number') out.push(String(v));
  else if (typeof v === 'string') encodeString(v, out);
  else if (Buffer.isBuffer(v)) out.push(`{${v.length}}\r\n`, literalSafe(v));
  else if (Array.isArray(v)) {
    out.push('(');
    v.forEach((x, i) => {
      if (i) out.push(' ');
      encodeValue(x, out);
    });
    out.push(')');
  } else if ('run' in v) {
    for (const x of v.run) encodeValue(x, out);
  } else if ('atom' in v) out.push(v.atom);
  else if ('lazy' in v) out.push(v);
  else out.push(`${v.binary ? '~' : ''}{${v.literal.length}}\r\n`, v.binary ? v.literal : literalSafe(v.literal));
  return out;
}

/**
 * A literal's bytes with NUL replaced by 0x80: a literal (not literal8) may not carry NUL
 * (RFC 3501 §9 CHAR8, RFC 9051 §9); Dovecot does the same. The size is unchanged.
 */
export function literalSafe(b: Buffer): Buffer {
  if (!b.includes(0)) return b;
  const c = Buffer.from(b);
  for (let i = c.indexOf(0); i >= 0; i = c.indexOf(0, i + 1)) c[i] = 0x80;
  return c;
}

function addresses(list: ImapAddress[] | null): Value {
  if (!list || !list.length) return null;
  return [{ run: list.map((a) => [a.name, a.adl, a.mailbox, a.host]) }];
}

/** ENVELOPE (RFC 3501 §7.4.2). */
export function envelopeValue(e: Envelope): Value {
  return [
    e.date,
    e.subject,
    addresses(e.from),
    addresses(e.sender),
    addresses(e.replyTo),
    addresses(e.to),
    addresses(e.cc),
    addresses(e.bcc),
    e.inReplyTo,
    e.messageId,
  ];
}

function params(p: [string, string][]): Value {
  if (!p.length) return null;
  const out: Value[] = [];
  for (const [k, v] of p) out.push(k.toUpperCase(), v);
  return out;
}

/** BODYSTRUCTURE (extensible = true) or BODY (false), RFC 3501 §7.4.2. */
export function bodyStructureValue(p: MimePart, extensible: boolean): Value {
  const ext = (): Value[] => [
    p.disposition ? [p.disposition.type.toUpperCase(), params(p.disposition.params)] : null,
    // body-fld-lang may be a string or a list (RFC 3501 §9): always a list, as Dovecot sends it
    p.language ? p.language : null,
    p.location,
  ];
  if (p.type === 'multipart') {
    const kids = (p.children ?? []).map((c) => bodyStructureValue(c, extensible));
    // metadata stored before multiparts always got a part had none: the same empty part then
    const empty: Value[] = [
      'TEXT',
      'PLAIN',
      ['CHARSET', 'US-ASCII'],
      null,
      null,
      '7BIT',
      0,
      0,
      ...(extensible ? [null, null, null, null] : []),
    ];
    const out: Value[] = kids.length ? kids : [empty];
    const sub = p.subtype.toUpperCase();
    if (!extensible) return [{ run: out }, sub];
    return [{ run: out }, sub, params(p.params), ...ext()];
  }
  const size = p.bodyEnd - p.bodyStart;
  const base: Value[] = [
    p.type.toUpperCase(),
    p.subtype.toUpperCase(),
    params(p.params),
    p.id,
    p.description,
    p.encoding,
    size,
  ];
  if (p.type === 'message' && p.message) {
    base.push(envelopeValue(p.message.envelope), bodyStructureValue(p.message.root, extensible), p.lines);
  } else if (p.type === 'text') {
    base.push(p.lines);
  }
  if (extensible) base.push(p.md5, ...ext());
  return base;
}

/** Quote a string for a response's text (e.g. mailbox names in LIST): quoted or literal. */
export function str(s: string): string {
  return encodeValue(s)
    .map((c) => (typeof c === 'string' ? c : c.toString('utf8')))
    .join('');
}
