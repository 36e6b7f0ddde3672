/** LOGOUT (RFC 3501 §6.1.3). */
import type { CommandSpec } from '../context.js';

export const logout: CommandSpec = {
  name: 'LOGOUT',
  states: ['not-authenticated', 'authenticated', 'selected'],
  async run({ session, tag }) {
    session.write('* BYE Logging out\r\n');
    session.reply(tag, 'OK', 'Logout completed.');
    session.close();
  },
};
