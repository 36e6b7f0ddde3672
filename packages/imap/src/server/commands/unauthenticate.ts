/** UNAUTHENTICATE (RFC 8437): close the mailbox, forget the user, back to not-authenticated. */
import type { CommandSpec } from '../context.js';

export const unauthenticate: CommandSpec = {
  name: 'UNAUTHENTICATE',
  states: ['authenticated', 'selected'],
  async run({ session, tag }) {
    await session.logout();
    session.reply(tag, 'OK', 'Unauthenticated.');
  },
};
