/**
 * Line endings as IMAP serves them: every bare LF becomes CRLF (RFC 9051 §2.3.1, RFC 5322 §2.1);
 * a lone CR is kept. Used on every save (APPEND, CATENATE, LMTP), so the stored object holds
 * exactly what FETCH BODY[] and RFC822.SIZE report.
 */

const CRLF = Buffer.from('\r\n');

/** `b` with every bare LF turned into CRLF; `b` itself when it has none. `prevCr`: the byte before `b` was CR. */
export function toCrlf(b: Buffer, prevCr = false): Buffer {
  let i = b.indexOf(0x0a);
  while (i >= 0 && (i === 0 ? prevCr : b[i - 1] === 0x0d)) i = b.indexOf(0x0a, i + 1);
  if (i < 0) return b;
  const out: Buffer[] = [];
  let start = 0;
  for (; i >= 0; i = b.indexOf(0x0a, i + 1)) {
    if (i === 0 ? !prevCr : b[i - 1] !== 0x0d) {
      out.push(b.subarray(start, i), CRLF);
      start = i + 1;
    }
  }
  out.push(b.subarray(start));
  return Buffer.concat(out);
}
