/** DELETE (RFC 3501 §6.3.4): INBOX and mailboxes with children cannot be deleted. */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const del: CommandSpec = {
  name: 'DELETE',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1);
    const name = session.mailboxArg(args[0]);
    if (session.selected && session.selected.mailbox.name === name) await session.select(undefined);
    await user.deleteMailbox(name);
    await session.ok(tag, 'Delete completed.');
  },
};
