/**
 * IMAP command tokenizer (RFC 3501 §9 formal syntax, lenient where clients are): turns a
 * RawCommand into a tag, a command name and argument tokens. Atoms keep bracketed sections
 * whole, so `BODY.PEEK[HEADER.FIELDS (From To)]<0.100>` is one atom. Pure.
 */
import type { RawCommand } from './reader.js';

/** An argument token. Strings (quoted or literal) are bytes; NIL is an atom. */
export type Token =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: Buffer; literal: boolean; /** sent as literal8 "~{n}" (RFC 3516 §4.3) */ binary?: boolean }
  | { type: 'list'; value: Token[] };

/** A syntax error; the session answers BAD. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

/** A tokenized command: tag, upper-cased name, arguments. */
export interface ParsedCommand {
  tag: string;
  name: string;
  args: Token[];
}

const ATOM_SPECIALS = new Set(['(', ')', '{', ' ', '"', '\\']);

class Cursor {
  part = 0;
  pos = 0;
  constructor(readonly raw: RawCommand) {}
  get text(): string {
    return this.raw.parts[this.part];
  }
  atEndOfPart(): boolean {
    return this.pos >= this.text.length;
  }
  atEnd(): boolean {
    return this.atEndOfPart() && this.part >= this.raw.parts.length - 1;
  }
  peek(): string {
    return this.text[this.pos];
  }
}

function readAtom(c: Cursor): string {
  const t = c.text;
  const start = c.pos;
  let depth = 0;
  while (c.pos < t.length) {
    const ch = t[c.pos];
    if (ch === '\\' && c.pos === start) {
      c.pos++;
      if (t[c.pos] === '*') {
        c.pos++;
        break;
      }
      continue;
    }
    if (ch === '[') depth++;
    else if (ch === ']') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (ATOM_SPECIALS.has(ch) || ch === ')')) break;
    else if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) throw new ParseError('Control character in atom');
    c.pos++;
  }
  if (c.pos === start) throw new ParseError(`Unexpected character ${JSON.stringify(t[start] ?? 'end of line')}`);
  return t.slice(start, c.pos);
}

function readQuoted(c: Cursor): Buffer {
  const t = c.text;
  c.pos++; // opening quote
  let out = '';
  while (c.pos < t.length) {
    const ch = t[c.pos++];
    if (ch === '"') return Buffer.from(out, 'utf8');
    if (ch === '\\') {
      const n = t[c.pos++];
      if (n !== '"' && n !== '\\') throw new ParseError('Invalid escape in quoted string');
      out += n;
    } else if (ch === '\r' || ch === '\n') throw new ParseError('Line break in quoted string');
    else out += ch;
  }
  throw new ParseError('Unterminated quoted string');
}

/** Default deepest nesting of parenthesized lists in a command (ImapLimits.maxNestingDepth). */
export const DEFAULT_MAX_NESTING = 256;

function readTokens(c: Cursor, nested: boolean, depthLeft: number): Token[] {
  if (depthLeft < 0) throw new ParseError('Too deeply nested parentheses');
  const out: Token[] = [];
  let binary = false;
  for (;;) {
    if (c.atEndOfPart()) {
      if (c.part < c.raw.parts.length - 1) {
        out.push({ type: 'string', value: c.raw.literals[c.part], literal: true, ...(binary ? { binary } : {}) });
        binary = false;
        c.part++;
        c.pos = 0;
        continue;
      }
      if (nested) throw new ParseError('Unterminated list');
      return out;
    }
    const ch = c.peek();
    if (ch === ' ') {
      c.pos++;
      continue;
    }
    // literal8 "~{n}": the reader split the line before "{n}", leaving the "~" at the end
    if (ch === '~' && c.pos === c.text.length - 1 && c.part < c.raw.parts.length - 1) {
      c.pos++;
      binary = true;
      continue;
    }
    if (ch === '(') {
      c.pos++;
      out.push({ type: 'list', value: readTokens(c, true, depthLeft - 1) });
      continue;
    }
    if (ch === ')') {
      if (!nested) throw new ParseError('Unexpected )');
      c.pos++;
      return out;
    }
    if (ch === '"') {
      out.push({ type: 'string', value: readQuoted(c), literal: false });
      continue;
    }
    if (ch === '{') throw new ParseError('Literal not at end of line');
    out.push({ type: 'atom', value: readAtom(c) });
  }
}

/**
 * Tokenize a raw command; lists may nest `maxNesting` deep. Throws ParseError (with the tag when
 * one was read), also for deeper nesting.
 */
export function tokenize(raw: RawCommand, maxNesting = DEFAULT_MAX_NESTING): ParsedCommand {
  const first = raw.parts[0] ?? '';
  const m = /^([^\s(){%*"\\\]]+) ([A-Za-z][A-Za-z0-9-]*)( |$)/.exec(first);
  if (!m) {
    const tag = /^([^\s(){%*"\\\]]+)/.exec(first)?.[1];
    const err = new ParseError(first.trim() ? 'Missing or invalid command' : 'Empty command') as ParseError & {
      tag?: string;
    };
    err.tag = tag && tag.length < 64 ? tag : '*';
    throw err;
  }
  const c = new Cursor(raw);
  c.pos = m[0].length;
  try {
    return { tag: m[1], name: m[2].toUpperCase(), args: readTokens(c, false, maxNesting) };
  } catch (e) {
    (e as ParseError & { tag?: string }).tag = m[1];
    throw e;
  }
}

/** The argument as text: atom value, or string decoded as UTF-8. Throws ParseError if a list. */
export function asText(t: Token | undefined, what = 'argument'): string {
  if (!t) throw new ParseError(`Missing ${what}`);
  if (t.type === 'list') throw new ParseError(`Expected ${what}, got a list`);
  return t.type === 'atom' ? t.value : t.value.toString('utf8');
}

/** An astring (atom or string) argument. */
export function asAstring(t: Token | undefined, what = 'argument'): string {
  return asText(t, what);
}

/** A list argument. */
export function asList(t: Token | undefined, what = 'list'): Token[] {
  if (!t || t.type !== 'list') throw new ParseError(`Expected ${what}`);
  return t.value;
}

/** Check the exact number of arguments. */
export function expectArgs(args: Token[], min: number, max = min): void {
  if (args.length < min) throw new ParseError('Missing arguments');
  if (args.length > max) throw new ParseError('Too many arguments');
}
