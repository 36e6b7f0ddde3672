/**
 * Sequence sets (RFC 3501 §9 sequence-set, RFC 5182 `$`): "1:3,7,10:*". Parsed into ranges and
 * resolved against the largest number in use ("*"). Pure.
 */
import { ParseError } from './tokens.js';

/** A parsed set: inclusive ranges, Infinity standing for "*". */
export type SeqSet = { ranges: [number, number][] } | { saved: true };

const NUM = /^(\d+|\*)$/;

/** Parse a sequence set; `$` means the saved search result (SEARCHRES). Throws ParseError. */
export function parseSeqSet(s: string): SeqSet {
  if (s === '$') return { saved: true };
  const ranges: [number, number][] = [];
  for (const part of s.split(',')) {
    const [a, b, extra] = part.split(':');
    if (extra !== undefined || !NUM.test(a) || (b !== undefined && !NUM.test(b)))
      throw new ParseError(`Invalid sequence set ${s.slice(0, 50)}`);
    const na = a === '*' ? Infinity : Number(a);
    const nb = b === undefined ? na : b === '*' ? Infinity : Number(b);
    if (na === 0 || nb === 0 || (Number.isFinite(na) && na > 0xffffffff) || (Number.isFinite(nb) && nb > 0xffffffff)) {
      throw new ParseError(`Invalid sequence number in ${s.slice(0, 50)}`);
    }
    ranges.push(na <= nb ? [na, nb] : [nb, na]);
  }
  return { ranges };
}

/** Is `n` in the set, with `max` substituted for "*"? */
export function inSet(set: { ranges: [number, number][] }, n: number, max: number): boolean {
  for (const [a, b] of set.ranges) {
    const lo = a === Infinity ? max : a;
    const hi = b === Infinity ? max : b;
    if (n >= Math.min(lo, hi) && n <= Math.max(lo, hi)) return true;
  }
  return false;
}

/** Compact a sorted list of numbers to a sequence set string ("1:3,5"). */
export function toSeqString(nums: number[]): string {
  const s = [...nums].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(i === j ? String(s[i]) : `${s[i]}:${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/**
 * The numbers in 1..max that are not in `present` (ascending), as ascending ranges; limited to
 * `within` (a set's ranges, `*` read as max) when given. Used for VANISHED (EARLIER) when the
 * change log no longer reaches back (RFC 7162 §3.2.5.2): every UID the client may know that is gone.
 */
export function absentRanges(present: readonly number[], max: number, within?: [number, number][]): [number, number][] {
  const gaps: [number, number][] = [];
  let prev = 0;
  for (const u of present) {
    if (u > max) break;
    if (u > prev + 1) gaps.push([prev + 1, u - 1]);
    prev = u;
  }
  if (prev < max) gaps.push([prev + 1, max]);
  if (!within) return gaps;
  const lim = within
    .map(([a, b]): [number, number] => {
      const lo = a === Infinity ? max : a;
      const hi = b === Infinity ? max : b;
      return [Math.min(lo, hi), Math.max(lo, hi)];
    })
    .sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < gaps.length && j < lim.length) {
    const lo = Math.max(gaps[i][0], lim[j][0]);
    const hi = Math.min(gaps[i][1], lim[j][1]);
    if (lo <= hi) {
      const last = out[out.length - 1];
      if (last && last[1] >= lo - 1) last[1] = Math.max(last[1], hi);
      else out.push([lo, hi]);
    }
    if (gaps[i][1] < lim[j][1]) i++;
    else j++;
  }
  return out;
}

/** Ranges as a sequence set string ("1:3,5"). */
export function rangesString(ranges: [number, number][]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}:${b}`)).join(',');
}
