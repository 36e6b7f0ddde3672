/** RENAME (RFC 3501 §6.3.5): a subtree moves in one operation; renaming INBOX moves its mail. */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const rename: CommandSpec = {
  name: 'RENAME',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 2);
    await user.renameMailbox(session.mailboxArg(args[0]), session.mailboxArg(args[1], true));
    await session.ok(tag, 'Rename completed.');
  },
};
