/** SUBSCRIBE and UNSUBSCRIBE (RFC 3501 §6.3.6-7). */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const subscribe: CommandSpec = {
  name: 'SUBSCRIBE',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 1);
    const name = session.mailboxArg(args[0]);
    await session.user!.mailbox(name);
    await session.user!.setSubscribed(name, true);
    await session.ok(tag, 'Subscribe completed.');
  },
};

export const unsubscribe: CommandSpec = {
  name: 'UNSUBSCRIBE',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 1);
    await session.user!.setSubscribed(session.mailboxArg(args[0]), false);
    await session.ok(tag, 'Unsubscribe completed.');
  },
};
