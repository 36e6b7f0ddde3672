/** STARTTLS (RFC 3501 §6.2.1): answer OK, then negotiate TLS on the same socket. */
import type { CommandSpec } from '../context.js';
import { bad } from '../errors.js';

export const starttls: CommandSpec = {
  name: 'STARTTLS',
  states: ['not-authenticated'],
  async run({ session, tag }) {
    if (session.tls) throw bad('TLS is already active');
    if (!session.env.tlsContext) throw bad('TLS is not configured');
    session.reply(tag, 'OK', 'Begin TLS negotiation now.');
    session.startTls();
  },
};
