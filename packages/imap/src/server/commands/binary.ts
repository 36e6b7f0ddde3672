/** Content-transfer-decoding for BINARY[] (RFC 3516), with libmime's codecs' dependencies. */
import iconv from 'iconv-lite';
import libqp from 'libqp';
import { no } from '../errors.js';

const IDENTITY = new Set(['', '7BIT', '8BIT', 'BINARY']);

/** Whether BINARY[] can decode this Content-Transfer-Encoding (RFC 3516 §4.2). */
export function knownEncoding(encoding: string): boolean {
  const e = encoding.toUpperCase();
  return IDENTITY.has(e) || e === 'BASE64' || e === 'QUOTED-PRINTABLE';
}

/** Decode a part body by its Content-Transfer-Encoding; unknown encodings pass through. */
export function decodeBinary(raw: Buffer, encoding: string): Buffer {
  switch (encoding.toUpperCase()) {
    case 'BASE64':
      return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'QUOTED-PRINTABLE':
      return libqp.decode(raw.toString('latin1'));
    default:
      return raw;
  }
}

/**
 * The text of a text part: transfer-decoded, then converted from its charset parameter with
 * iconv-lite (`fallback` when it names none; unknown charsets are read as UTF-8).
 */
export function decodeText(
  raw: Buffer,
  part: { encoding: string; params: [string, string][] },
  fallback = 'utf-8',
): string {
  const bytes = decodeBinary(raw, part.encoding);
  const charset = (part.params.find(([k]) => k === 'charset')?.[1] ?? fallback).toLowerCase();
  // 8-bit text labelled (or defaulted to) US-ASCII is almost always UTF-8 in practice: read it so,
  // as Dovecot does; a real US-ASCII text decodes the same either way
  if (charset === 'us-ascii' || charset === 'ascii') return bytes.toString('utf8');
  return iconv.encodingExists(charset) ? iconv.decode(bytes, charset) : bytes.toString('utf8');
}

/** decodeBinary for FETCH BINARY: an encoding it cannot decode is NO [UNKNOWN-CTE] (RFC 3516 §4.2). */
export function decodeForFetch(raw: Buffer, encoding: string): Buffer {
  if (!knownEncoding(encoding)) throw no('UNKNOWN-CTE', `Unknown Content-Transfer-Encoding ${encoding.slice(0, 40)}`);
  return decodeBinary(raw, encoding);
}
