/** Content-transfer-decoding for BINARY[] (RFC 3516), with libmime's codecs' dependencies. */
import libqp from 'libqp';

/** Decode a part body by its Content-Transfer-Encoding; unknown encodings pass through. */
export function decodeBinary(raw: Buffer, encoding: string): Buffer {
  switch (encoding.toUpperCase()) {
    case 'BASE64': return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'QUOTED-PRINTABLE': return libqp.decode(raw.toString('latin1'));
    default: return raw;
  }
}
