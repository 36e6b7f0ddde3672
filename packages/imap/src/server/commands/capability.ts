/** CAPABILITY (RFC 3501 §6.1.1). */
import type { CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';

export const capability: CommandSpec = {
  name: 'CAPABILITY',
  states: ['not-authenticated', 'authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 0);
    session.write(`* CAPABILITY ${session.capabilities().join(' ')}\r\n`);
    await session.ok(tag, 'Capability completed.');
  },
};
