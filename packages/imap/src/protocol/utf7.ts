/**
 * Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3) unless the client enabled
 * UTF8=ACCEPT (RFC 6855). Conversion by `iconv-lite`'s utf7imap codec.
 */
import iconv from 'iconv-lite';

/** Encode a UTF-8 mailbox name to modified UTF-7. */
export function encodeMailboxName(name: string, utf8: boolean): string {
  if (utf8 || /^[\x20-\x25\x27-\x7e]*$/.test(name)) return name;
  return iconv.encode(name, 'utf7imap').toString('latin1');
}

/**
 * A mailbox name that is not valid modified UTF-7 (RFC 3501 §5.1.3). Not a syntax error (BAD makes
 * several clients drop the connection): no mailbox can have that name, so commands answer NO and
 * LIST matches nothing, as Dovecot does.
 */
export class InvalidMutf7 extends Error {
  constructor() {
    super('Mailbox name is not valid modified UTF-7');
    this.name = 'InvalidMutf7';
  }
}

/** Decode a mailbox name as sent by the client. Throws InvalidMutf7 for invalid modified UTF-7. */
export function decodeMailboxName(raw: string, utf8: boolean): string {
  if (utf8 || !raw.includes('&')) return raw;
  if (/&(?![A-Za-z0-9+,]*-)/.test(raw)) throw new InvalidMutf7();
  const out = iconv.decode(Buffer.from(raw, 'latin1'), 'utf7imap');
  if (out.includes('\ufffd')) throw new InvalidMutf7();
  return out;
}
