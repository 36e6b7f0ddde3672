/** NOOP (RFC 3501 §6.1.2): also the poll for mailbox updates. */
import type { CommandSpec } from '../context.js';

export const noop: CommandSpec = {
  name: 'NOOP',
  states: ['not-authenticated', 'authenticated', 'selected'],
  async run({ session, tag }) {
    await session.sendUpdates(true);
    await session.ok(tag, 'NOOP completed.');
  },
};
