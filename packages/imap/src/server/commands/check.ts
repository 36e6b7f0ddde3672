/** CHECK (RFC 3501 §6.4.1): every change is already durable; acts like NOOP. */
import type { CommandSpec } from '../context.js';

export const check: CommandSpec = {
  name: 'CHECK',
  states: ['selected'],
  async run({ session, tag }) {
    await session.sendUpdates(true);
    await session.ok(tag, 'CHECK completed.');
  },
};
