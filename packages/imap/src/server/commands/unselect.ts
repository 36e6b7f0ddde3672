/** UNSELECT (RFC 3691): leave the mailbox without expunging. */
import type { CommandSpec } from '../context.js';

export const unselect: CommandSpec = {
  name: 'UNSELECT',
  states: ['selected'],
  async run({ session, tag }) {
    await session.select(undefined);
    session.reply(tag, 'OK', 'Unselect completed.');
  },
};
