/**
 * Explicit enhanced status codes (RFC 2034, RFC 3463) in LMTP replies.
 *
 * smtp-server derives the enhanced code from the reply code alone, but one reply code has
 * several meanings here: 452 is "4.2.2 mailbox full" for a user over quota and "4.3.1 mail
 * system full" when the store is full. This installs, once per process, a small wrapper on
 * smtp-server's connection: a reply text that already starts with an enhanced code ("4.3.1 ...")
 * is sent as it is, without a second, derived code. Other replies are untouched.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

/** Install the wrapper (idempotent). */
export function allowExplicitEnhancedCodes(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { send(code: number, data: unknown, context?: unknown): void };
  const send = proto.send;
  proto.send = function (this: unknown, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string' && ENHANCED.test(data)) return send.call(this, code, data, false);
    return send.call(this, code, data, context);
  };
}
