/** Flag list parsing shared by APPEND and STORE (RFC 3501 §9 flag-list). */
import { ParseError, type Token } from '../../protocol/tokens.js';

const SYSTEM = new Map(
  ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'].map((f) => [f.toLowerCase(), f]),
);
const ATOM = /^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/;

/** Parse a parenthesised flag list (or a single flag atom); system flags get canonical case. */
export function parseFlagList(t: Token): string[] {
  const items = t.type === 'list' ? t.value : [t];
  return items.map((x) => {
    if (x.type !== 'atom') throw new ParseError('Invalid flag');
    if (x.value.startsWith('\\')) {
      const sys = SYSTEM.get(x.value.toLowerCase());
      if (!sys) throw new ParseError(`Invalid system flag ${x.value.slice(0, 30)}`);
      return sys;
    }
    if (!ATOM.test(x.value) || x.value.length > 200) throw new ParseError('Invalid keyword');
    return x.value;
  });
}
