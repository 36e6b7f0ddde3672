/**
 * Tokens of IMAP responses (RFC 3501 §9 / RFC 9051 §9, server side) and of the expected lines of
 * a script, and the matcher between them. Independent of rmb's own parser on purpose: the
 * runner must judge the server, not share its bugs.
 *
 * Brackets are lists of kind "[" so that `BODY[HEADER.FIELDS (FROM)]` and `[READ-WRITE]`
 * compare structurally; `BODY[]<0>` keeps `<0>` in the following atom.
 */

/** A token: atom (incl. numbers and NIL), string (quoted or literal, bytes as latin1), or list. */
export type Tok = { t: 'atom'; v: string } | { t: 'string'; v: string } | { t: 'list'; open: '(' | '['; items: Tok[] };

/** Stands for a literal's data in a response's text (see ResponseReader). */
export const LITERAL_MARK = '\u0001';

/** Thrown on malformed input. */
export class TokenError extends Error {}

/**
 * Tokenize one response (or expected line). `literals` holds the bytes of each literal in order;
 * in the text each literal is replaced by LITERAL_MARK.
 */
export function tokenize(text: string, literals: string[] = [], expected = false): Tok[] {
  let i = 0;
  let lit = 0;
  const stack: Tok[][] = [[]];
  const opens: ('(' | '[')[] = [];
  const push = (t: Tok) => stack[stack.length - 1].push(t);
  while (i < text.length) {
    const c = text[i];
    if (c === ' ') {
      i++;
      continue;
    }
    if (c === '(' || c === '[') {
      const l: Tok = { t: 'list', open: c, items: [] };
      push(l);
      stack.push(l.items);
      opens.push(c);
      i++;
      continue;
    }
    if (c === ')' || c === ']') {
      if (!opens.length) {
        // a stray ']' in response text (e.g. "OK done]") is an atom character
        push({ t: 'atom', v: c });
        i++;
        continue;
      }
      stack.pop();
      opens.pop();
      i++;
      continue;
    }
    if (c === '"') {
      let s = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) {
          i++;
          // in a script's expected line "\r" and "\n" stand for CR and LF (a quoted string can hold neither)
          if (expected && (text[i] === 'r' || text[i] === 'n')) {
            s += text[i++] === 'r' ? '\r' : '\n';
            continue;
          }
          // and "\xHH" for any byte
          if (expected && text[i] === 'x' && /^[0-9a-f]{2}$/i.test(text.slice(i + 1, i + 3))) {
            s += String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16));
            i += 3;
            continue;
          }
        }
        s += text[i++];
      }
      i++; // an unterminated string in human-readable text runs to the end
      push({ t: 'string', v: s });
      continue;
    }
    if (c === LITERAL_MARK) {
      if (lit >= literals.length) throw new TokenError('literal marker without data');
      push({ t: 'string', v: literals[lit++] });
      i++;
      continue;
    }
    let j = i;
    while (j < text.length && !' ()[]"\u0001'.includes(text[j])) j++;
    // "BODY[" ... "]<0.10>": a partial spec belongs to the next atom; '[' inside an atom opens a list
    if (j === i) {
      j = i + 1;
    }
    push({ t: 'atom', v: text.slice(i, j) });
    i = j;
  }
  while (stack.length > 1) stack.pop();
  return stack[0];
}

/** Render tokens back to text (for messages). */
export function render(toks: Tok[]): string {
  return toks
    .map((t) =>
      t.t === 'atom'
        ? t.v
        : t.t === 'string'
          ? JSON.stringify(t.v.length > 60 ? t.v.slice(0, 57) + '...' : t.v)
          : `${t.open}${render(t.items)}${t.open === '(' ? ')' : ']'}`,
    )
    .join(' ');
}

/** Variables bound while matching (name → rendered token). */
export type Vars = Map<string, Tok>;

interface Directives {
  unordered: number;
  extra: boolean;
}

function eqTok(a: Tok, b: Tok): boolean {
  if (a.t !== b.t) {
    // a number, NIL etc. never equals a string; an atom may be written for a string in a script
    return (
      ((a.t === 'atom' && b.t === 'string') || (a.t === 'string' && b.t === 'atom')) &&
      a.v.toLowerCase() === b.v.toLowerCase() &&
      a.v.toUpperCase() !== 'NIL'
    );
  }
  if (a.t === 'list' || b.t === 'list') return false;
  return a.v.toLowerCase() === b.v.toLowerCase();
}

/**
 * Match expected tokens against actual ones, binding variables. Expected may contain `$`
 * (any one token), `$name` / `${name}` (bound on first use, compared afterwards), and at the
 * start of a list the directives `$!unordered`, `$!unordered=N` (items in groups of N),
 * `$!ordered`, `$!extra` (actual may have more items), `$!noextra`. Returns the new bindings or
 * null. Comparison is case-insensitive (atoms, and strings: IMAP keywords and MIME tokens are).
 */
export function match(
  exp: Tok[],
  act: Tok[],
  vars: Vars,
  defaults: Directives = { unordered: 0, extra: false },
): Vars | null {
  const d = { ...defaults };
  let e = exp;
  while (e.length && e[0].t === 'atom' && e[0].v.startsWith('$!')) {
    const [k, n] = e[0].v.slice(2).toLowerCase().split('=');
    if (k === 'unordered') d.unordered = n ? Number(n) : 1;
    else if (k === 'ordered') d.unordered = 0;
    else if (k === 'extra') d.extra = true;
    else if (k === 'noextra') d.extra = false;
    e = e.slice(1);
  }
  if (!d.unordered) return seq(e, act, vars, d.extra);
  const g = d.unordered;
  const groups =
    g === FETCH_PAIRS
      ? fetchGroups
      : (xs: Tok[]) => {
          const out: Tok[][] = [];
          for (let i = 0; i < xs.length; i += g) out.push(xs.slice(i, i + g));
          return out;
        };
  const eg = groups(e);
  const ag = groups(act);
  if (!d.extra && eg.length !== ag.length) return null;
  return assign(eg, ag, vars);
}

/** Directive value: group a FETCH list as attribute (name, [section], <partial>) + value. */
const FETCH_PAIRS = -1;

function fetchGroups(xs: Tok[]): Tok[][] {
  const out: Tok[][] = [];
  for (let i = 0; i < xs.length;) {
    const start = i++;
    if (xs[i]?.t === 'list' && (xs[i] as { open: string }).open === '[') i++;
    if (xs[i]?.t === 'atom' && (xs[i] as { v: string }).v.startsWith('<')) i++;
    i++;
    out.push(xs.slice(start, i));
  }
  return out;
}

function assign(eg: Tok[][], ag: Tok[][], vars: Vars): Vars | null {
  if (!eg.length) return vars;
  for (let k = 0; k < ag.length; k++) {
    const v = seq(eg[0], ag[k], new Map(vars), false);
    if (!v) continue;
    const rest = assign(
      eg.slice(1),
      ag.filter((_, i) => i !== k),
      v,
    );
    if (rest) return rest;
  }
  return null;
}

function seq(e: Tok[], a: Tok[], vars: Vars, extra: boolean): Vars | null {
  // directives after the first items apply to the rest ("* CAPABILITY $!unordered $!extra IMAP4rev1")
  const k = e.findIndex((t) => t.t === 'atom' && t.v.startsWith('$!'));
  if (k > 0) {
    const head = seq(e.slice(0, k), a.slice(0, k), vars, false);
    return head && match(e.slice(k), a.slice(k), head, { unordered: 0, extra });
  }
  if (e.length > a.length || (!extra && e.length !== a.length)) return null;
  let v = new Map(vars);
  for (let i = 0; i < e.length; i++) {
    const r = one(e[i], a[i], v, e[i - 1]);
    if (!r) return null;
    v = r;
  }
  return v;
}

/** Lists whose order does not matter by default: flag lists and FETCH/STATUS attribute lists. */
function listDefaults(prev: Tok | undefined): Directives {
  const p = prev?.t === 'atom' ? prev.v.toUpperCase() : '';
  if (p === 'FLAGS' || p === 'PERMANENTFLAGS' || p === 'LIST' || p === 'LSUB') return { unordered: 1, extra: false };
  if (p === 'FETCH') return { unordered: FETCH_PAIRS, extra: true };
  return { unordered: 0, extra: false };
}

function one(e: Tok, a: Tok, vars: Vars, prev: Tok | undefined): Vars | null {
  if (e.t === 'atom' && e.v.startsWith('$') && !e.v.startsWith('$!')) {
    if (e.v === '$') return vars;
    const name = e.v.replace(/^\$\{?/, '').replace(/\}$/, '');
    const bound = vars.get(name);
    if (!bound) {
      const v = new Map(vars);
      v.set(name, a);
      return v;
    }
    return deepEq(bound, a) ? vars : null;
  }
  if (e.t === 'list') {
    if (a.t !== 'list' || a.open !== e.open) return null;
    return match(e.items, a.items, vars, listDefaults(prev));
  }
  return eqTok(e, a) ? vars : null;
}

function deepEq(a: Tok, b: Tok): boolean {
  if (a.t === 'list' && b.t === 'list')
    return a.items.length === b.items.length && a.items.every((x, i) => deepEq(x, b.items[i]));
  return eqTok(a, b);
}

/** The text form of a bound variable, for substitution into commands. */
export function varText(t: Tok): string {
  if (t.t === 'atom') return t.v;
  if (t.t === 'string') return /^[A-Za-z0-9._/-]+$/.test(t.v) ? t.v : JSON.stringify(t.v);
  return `${t.open}${t.items.map(varText).join(' ')}${t.open === '(' ? ')' : ']'}`;
}
