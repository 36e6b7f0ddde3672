/**
 * The two RFC 5322 §3.2 lexical constructs that hide structure characters from a header scanner:
 * comments (nested, with quoted-pairs) and quoted strings (with quoted-pairs). Shared by the MIME
 * parameter reader (mime-params.ts) and the address-list checks (address-list.ts).
 */

/**
 * The offset just past the comment that opens at `s[i]` (a "("), or -1 when it is not closed
 * (RFC 5322 §3.2.2: comments nest, "\" quotes the next character).
 */
export function commentEnd(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * The offset just past the quoted string that opens at `s[i]` (a '"'), or -1 when it is not
 * closed (RFC 5322 §3.2.4: "\" quotes the next character).
 */
export function quotedEnd(s: string, i: number): number {
  for (i++; i < s.length; i++) {
    if (s[i] === '\\') {
      i++;
      continue;
    }
    if (s[i] === '"') return i + 1;
  }
  return -1;
}
