/** NAMESPACE (RFC 2342): one personal namespace, prefix "", separator "/". */
import type { CommandSpec } from '../context.js';

export const namespace: CommandSpec = {
  name: 'NAMESPACE',
  states: ['authenticated', 'selected'],
  async run({ session, tag }) {
    session.write('* NAMESPACE (("" "/")) NIL NIL\r\n');
    await session.ok(tag, 'Namespace completed.');
  },
};
