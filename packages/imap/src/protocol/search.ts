/**
 * SEARCH key parsing (RFC 3501 §6.4.4, CHARSET UTF-8 / US-ASCII; RFC 7162 MODSEQ). Produces a
 * key tree that the server evaluates against the index and the stored metadata. Pure.
 */
import { parseSeqSet, type SeqSet } from './sequence.js';
import iconv from 'iconv-lite';
import { DEFAULT_MAX_NESTING, ParseError, type Token } from './tokens.js';
import { parseSearchDate } from './dates.js';

/** A search key. Dates are UTC day starts in ms since epoch (compared by calendar day). */
export type SearchKey =
  | { k: 'all' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'new' }
  | { k: 'old' }
  | { k: 'recent' }
  | { k: 'header'; field: string; value: string }
  | { k: 'body'; value: string }
  | { k: 'text'; value: string }
  | { k: 'date'; which: 'internal' | 'sent' | 'saved'; op: 'before' | 'on' | 'since'; day: number }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  /** WITHIN (RFC 5032): INTERNALDATE at least (older) / less than (younger) `seconds` ago. */
  | { k: 'age'; op: 'older' | 'younger'; seconds: number }
  | { k: 'seq'; set: SeqSet }
  | { k: 'uid'; set: SeqSet }
  | { k: 'modseq'; n: number }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  UNANSWERED: ['\\Answered', false],
  DELETED: ['\\Deleted', true],
  UNDELETED: ['\\Deleted', false],
  DRAFT: ['\\Draft', true],
  UNDRAFT: ['\\Draft', false],
  FLAGGED: ['\\Flagged', true],
  UNFLAGGED: ['\\Flagged', false],
  SEEN: ['\\Seen', true],
  UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS = new Set(['FROM', 'TO', 'CC', 'BCC', 'SUBJECT']);

/**
 * A SEARCH CHARSET no decoder knows (RFC 3501 §6.4.4: NO [BADCHARSET (...)]). Every charset
 * iconv-lite decodes is accepted (ISO-8859-x, Windows-125x, KOI8-R, ISO-2022-JP, Shift_JIS, GB2312,
 * Big5, ...), as Dovecot accepts every charset iconv knows.
 */
export class BadCharset extends Error {
  /** The charsets named in the BADCHARSET response code (a selection: all iconv-lite knows are accepted). */
  static readonly ADVERTISED = [
    'UTF-8',
    'US-ASCII',
    'ISO-8859-1',
    'ISO-8859-15',
    'WINDOWS-1252',
    'KOI8-R',
    'ISO-2022-JP',
    'SHIFT_JIS',
    'GB2312',
    'BIG5',
  ];
  constructor(readonly charset: string) {
    super(`Unsupported charset ${charset.slice(0, 40)}`);
    this.name = 'BadCharset';
  }
}

/** The decoder of a SEARCH CHARSET's strings; throws BadCharset for an unknown one. */
function decoderFor(charset: string): (b: Buffer) => string {
  if (charset === 'UTF-8' || charset === 'US-ASCII') return (b) => b.toString('utf8');
  if (!iconv.encodingExists(charset)) throw new BadCharset(charset);
  return (b) => iconv.decode(b, charset);
}

class Stream {
  i = 0;
  constructor(
    readonly toks: Token[],
    readonly decode: (b: Buffer) => string = (b) => b.toString('utf8'),
  ) {}
  next(what: string): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ParseError(`Missing ${what} in SEARCH`);
    return t;
  }
  text(what: string): string {
    const t = this.next(what);
    if (t.type === 'list') throw new ParseError(`Expected ${what} in SEARCH`);
    return t.type === 'atom' ? t.value : this.decode(t.value);
  }
  number(what: string): number {
    const s = this.text(what);
    if (!/^\d{1,20}$/.test(s)) throw new ParseError(`Invalid number ${s.slice(0, 20)}`);
    return Number(s);
  }
  get done(): boolean {
    return this.i >= this.toks.length;
  }
}

/** Parse one search key; `depth` more levels of lists, NOT and OR may follow. Throws ParseError. */
function key(s: Stream, depth: number): SearchKey {
  if (depth < 0) throw new ParseError('Search keys nested too deeply');
  const t = s.next('search key');
  if (t.type === 'list') {
    const inner = new Stream(t.value, s.decode);
    const keys: SearchKey[] = [];
    while (!inner.done) keys.push(key(inner, depth - 1));
    if (!keys.length) throw new ParseError('Empty search key list');
    return keys.length === 1 ? keys[0] : { k: 'and', keys };
  }
  if (t.type === 'string') throw new ParseError('Unexpected string in SEARCH');
  const name = t.value.toUpperCase();
  if (/^[\d*$]/.test(name)) return { k: 'seq', set: parseSeqSet(t.value) };
  if (FLAG_KEYS[name]) return { k: 'flag', flag: FLAG_KEYS[name][0], set: FLAG_KEYS[name][1] };
  if (HEADER_KEYS.has(name)) return { k: 'header', field: name.toLowerCase(), value: s.text('string') };
  switch (name) {
    case 'ALL':
      return { k: 'all' };
    case 'NEW':
      return { k: 'new' };
    case 'OLD':
      return { k: 'old' };
    case 'RECENT':
      return { k: 'recent' };
    case 'KEYWORD':
      return { k: 'flag', flag: s.text('keyword'), set: true };
    case 'UNKEYWORD':
      return { k: 'flag', flag: s.text('keyword'), set: false };
    case 'HEADER': {
      const field = s.text('header name');
      return { k: 'header', field: field.toLowerCase(), value: s.text('string') };
    }
    case 'BODY':
      return { k: 'body', value: s.text('string') };
    case 'TEXT':
      return { k: 'text', value: s.text('string') };
    case 'BEFORE':
    case 'ON':
    case 'SINCE':
      return { k: 'date', which: 'internal', op: name.toLowerCase() as 'before', day: parseSearchDate(s.text('date')) };
    case 'SENTBEFORE':
    case 'SENTON':
    case 'SENTSINCE':
      return {
        k: 'date',
        which: 'sent',
        op: name.slice(4).toLowerCase() as 'before',
        day: parseSearchDate(s.text('date')),
      };
    case 'SAVEDBEFORE':
    case 'SAVEDON':
    case 'SAVEDSINCE': // RFC 8514 §4.2
      return {
        k: 'date',
        which: 'saved',
        op: name.slice(5).toLowerCase() as 'before',
        day: parseSearchDate(s.text('date')),
      };
    case 'SAVEDATESUPPORTED': // RFC 8514 §4.2: every mailbox here records save dates
      return { k: 'all' };
    case 'LARGER':
      return { k: 'size', op: 'larger', n: s.number('size') };
    case 'SMALLER':
      return { k: 'size', op: 'smaller', n: s.number('size') };
    case 'OLDER':
    case 'YOUNGER': {
      const seconds = s.number('interval');
      if (seconds < 1) throw new ParseError(`${name} needs a positive number of seconds`);
      return { k: 'age', op: name === 'OLDER' ? 'older' : 'younger', seconds };
    }
    case 'UID':
      return { k: 'uid', set: parseSeqSet(s.text('UID set')) };
    case 'NOT':
      return { k: 'not', key: key(s, depth - 1) };
    case 'OR': {
      const a = key(s, depth - 1);
      return { k: 'or', a, b: key(s, depth - 1) };
    }
    case 'MODSEQ': {
      // MODSEQ [entry-name entry-type] mod-sequence-valzer (RFC 7162 §3.1.5)
      const first = s.text('modseq');
      if (!/^\d+$/.test(first)) {
        s.text('entry type');
        return { k: 'modseq', n: s.number('modseq') };
      }
      return { k: 'modseq', n: Number(first) };
    }
    default:
      throw new ParseError(`Unknown search key ${name.slice(0, 30)}`);
  }
}

/** Whether a search key, or any key inside it, is of kind `kind` (e.g. 'modseq', RFC 7162 §3.1.5). */
export function usesKey(k: SearchKey, kind: SearchKey['k']): boolean {
  if (k.k === kind) return true;
  if (k.k === 'and') return k.keys.some((x) => usesKey(x, kind));
  if (k.k === 'or') return usesKey(k.a, kind) || usesKey(k.b, kind);
  if (k.k === 'not') return usesKey(k.key, kind);
  return false;
}

/** Result options of ESEARCH (RFC 4731), when given with RETURN (...). */
export interface SearchProgram {
  charset: string;
  key: SearchKey;
  returnOpts: string[] | null;
}

/**
 * Parse SEARCH arguments: [RETURN (opts)] [CHARSET x] keys... Strings are decoded from the
 * CHARSET. Lists, NOT and OR may nest `maxDepth` deep (ImapLimits.maxNestingDepth). Throws
 * ParseError, BadCharset.
 */
export function parseSearch(args: Token[], maxDepth = DEFAULT_MAX_NESTING): SearchProgram {
  let s = new Stream(args);
  let returnOpts: string[] | null = null;
  let charset = 'UTF-8';
  const peekAtom = () => {
    const t = args[s.i];
    return t && t.type === 'atom' ? t.value.toUpperCase() : '';
  };
  if (peekAtom() === 'RETURN') {
    s.i++;
    const l = s.next('RETURN options');
    if (l.type !== 'list') throw new ParseError('RETURN needs a list');
    returnOpts = l.value.map((x) => (x.type === 'atom' ? x.value.toUpperCase() : '')).filter(Boolean);
  }
  if (peekAtom() === 'CHARSET') {
    s.i++;
    charset = s.text('charset').toUpperCase();
    const at = s.i;
    s = new Stream(args, decoderFor(charset));
    s.i = at;
  }
  const keys: SearchKey[] = [];
  while (!s.done) keys.push(key(s, maxDepth));
  if (!keys.length) throw new ParseError('Missing search keys');
  return { charset, key: keys.length === 1 ? keys[0] : { k: 'and', keys }, returnOpts };
}
