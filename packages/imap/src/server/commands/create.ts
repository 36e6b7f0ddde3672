/** CREATE (RFC 3501 §6.3.3): missing parents are created too; a trailing separator is ignored. */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const create: CommandSpec = {
  name: 'CREATE',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 1, 2);
    let name = session.mailboxArg(args[0]);
    if (name.endsWith('/')) name = name.replace(/\/+$/, '');
    const info = await session.user!.createMailbox(name);
    await session.ok(tag, 'Create completed.', `MAILBOXID (${info.id})`); // RFC 8474 §4.1
  },
};
