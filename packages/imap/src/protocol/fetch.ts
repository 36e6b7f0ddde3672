/**
 * FETCH attribute parsing (RFC 3501 §6.4.5, RFC 7162 MODSEQ, RFC 8514 SAVEDATE): macros,
 * simple items and BODY[section]<partial> / BODY.PEEK / BINARY forms. Pure.
 */
import { ParseError, type Token } from './tokens.js';

/** A body section: part path ([] = whole message) and what of it. */
export interface Section {
  path: number[];
  /** '' = all of the part, or HEADER / HEADER.FIELDS / HEADER.FIELDS.NOT / TEXT / MIME. */
  spec: '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields: string[];
}

/** One requested FETCH item. */
export type FetchItem =
  | {
      kind: 'simple';
      name:
        | 'UID'
        | 'FLAGS'
        | 'INTERNALDATE'
        | 'RFC822.SIZE'
        | 'ENVELOPE'
        | 'BODY'
        | 'BODYSTRUCTURE'
        | 'MODSEQ'
        | 'SAVEDATE'
        | 'EMAILID'
        | 'THREADID'
        | 'PREVIEW';
    }
  | { kind: 'rfc822'; name: 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | { kind: 'body'; peek: boolean; section: Section; partial?: [number, number]; label: string }
  | { kind: 'binary'; peek: boolean; size: boolean; path: number[]; partial?: [number, number]; label: string };

const SIMPLE = new Set([
  'UID',
  'FLAGS',
  'INTERNALDATE',
  'RFC822.SIZE',
  'ENVELOPE',
  'BODY',
  'BODYSTRUCTURE',
  'MODSEQ',
  'SAVEDATE',
  'EMAILID',
  'THREADID',
  'PREVIEW',
]);
const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const BODY_RE = /^(BODY(?:\.PEEK)?|BINARY(?:\.PEEK)?|BINARY\.SIZE)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$/i;

/** Parse a section spec like "1.2.HEADER.FIELDS (From To)". Throws ParseError. */
export function parseSection(s: string): Section {
  const m = /^((?:\d+\.)*\d+)?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?\s*(?:\((.*)\))?$/i.exec(
    s.trim(),
  );
  if (!m) throw new ParseError(`Invalid section [${s.slice(0, 60)}]`);
  const path = m[1] ? m[1].split('.').map(Number) : [];
  if (path.some((n) => n < 1 || !Number.isSafeInteger(n))) throw new ParseError('Invalid part number');
  const spec = (m[2]?.toUpperCase() ?? '') as Section['spec'];
  if (spec === 'MIME' && !path.length) throw new ParseError('MIME needs a part number');
  const fields =
    m[3] !== undefined
      ? m[3]
          .split(/\s+/)
          .filter(Boolean)
          .map((f) => f.replace(/^"|"$/g, ''))
      : [];
  if ((spec === 'HEADER.FIELDS' || spec === 'HEADER.FIELDS.NOT') !== (m[3] !== undefined))
    throw new ParseError('Invalid header field list');
  if ((spec === 'HEADER.FIELDS' || spec === 'HEADER.FIELDS.NOT') && !fields.length)
    throw new ParseError('Empty header field list');
  return { path, spec, fields };
}

function one(name: string, out: FetchItem[]): void {
  const up = name.toUpperCase();
  if (SIMPLE.has(up)) {
    out.push({ kind: 'simple', name: up as never });
    return;
  }
  if (up === 'RFC822' || up === 'RFC822.HEADER' || up === 'RFC822.TEXT') {
    out.push({ kind: 'rfc822', name: up });
    return;
  }
  const m = BODY_RE.exec(name);
  if (!m) throw new ParseError(`Unknown FETCH item ${name.slice(0, 40)}`);
  const what = m[1].toUpperCase();
  const partial: [number, number] | undefined = m[3] !== undefined ? [Number(m[3]), Number(m[4])] : undefined;
  if (what.startsWith('BINARY')) {
    if (!/^((\d+\.)*\d+)?$/.test(m[2])) throw new ParseError('Invalid BINARY section');
    const path = m[2] ? m[2].split('.').map(Number) : [];
    out.push({
      kind: 'binary',
      peek: what !== 'BINARY',
      size: what === 'BINARY.SIZE',
      path,
      partial,
      label: `${what === 'BINARY.SIZE' ? 'BINARY.SIZE' : 'BINARY'}[${m[2]}]`,
    });
    return;
  }
  const section = parseSection(m[2]);
  const label = `BODY[${m[2].toUpperCase().replace(/\s+/g, ' ')}]`;
  out.push({ kind: 'body', peek: what === 'BODY.PEEK', section, partial, label });
}

/** Parse the FETCH attribute argument (atom, macro or list). Throws ParseError. */
export function parseFetchItems(t: Token): FetchItem[] {
  const out: FetchItem[] = [];
  if (t.type === 'atom' && MACROS[t.value.toUpperCase()]) {
    for (const n of MACROS[t.value.toUpperCase()]) one(n, out);
    return out;
  }
  const items = t.type === 'list' ? t.value : [t];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (it.type !== 'atom') throw new ParseError('Invalid FETCH item');
    one(it.value, out);
    // PREVIEW's modifiers (RFC 8970 §4): only LAZY, which the server may ignore
    const next = items[i + 1];
    if (it.value.toUpperCase() === 'PREVIEW' && next?.type === 'list') {
      if (next.value.some((m) => m.type !== 'atom' || m.value.toUpperCase() !== 'LAZY'))
        throw new ParseError('Unknown PREVIEW modifier');
      i++;
    }
  }
  if (!out.length) throw new ParseError('Empty FETCH item list');
  return out;
}

/** Does fetching these items set \Seen (RFC 3501 §6.4.5)? */
export function setsSeen(items: FetchItem[]): boolean {
  return items.some(
    (i) =>
      (i.kind === 'body' && !i.peek) ||
      (i.kind === 'binary' && !i.peek && !i.size) ||
      (i.kind === 'rfc822' && i.name !== 'RFC822.HEADER'),
  );
}
