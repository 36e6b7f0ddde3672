/** SUBSCRIBE and UNSUBSCRIBE (RFC 3501 §6.3.6-7). */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const subscribe: CommandSpec = {
  name: 'SUBSCRIBE',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1);
    const name = session.mailboxArg(args[0]);
    await user.mailbox(name);
    await user.setSubscribed(name, true);
    await session.ok(tag, 'Subscribe completed.');
  },
};

export const unsubscribe: CommandSpec = {
  name: 'UNSUBSCRIBE',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1);
    await user.setSubscribed(session.mailboxArg(args[0]), false);
    await session.ok(tag, 'Unsubscribe completed.');
  },
};
