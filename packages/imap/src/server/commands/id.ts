/** ID (RFC 2971): logs the client's identification, answers with the server's. */
import type { CommandSpec } from '../context.js';
import { bad } from '../errors.js';

export const id: CommandSpec = {
  name: 'ID',
  states: ['not-authenticated', 'authenticated', 'selected'],
  async run({ session, tag, args }) {
    const a = args[0];
    if (!a || (a.type === 'atom' && a.value.toUpperCase() !== 'NIL') || a.type === 'string' || args.length > 1)
      throw bad('ID needs a parameter list or NIL');
    if (a.type === 'list') {
      const kv: Record<string, string> = {};
      for (let i = 0; i + 1 < a.value.length && i < 60; i += 2) {
        const k = a.value[i],
          v = a.value[i + 1];
        if (k.type !== 'list' && v.type !== 'list') kv[String(k.value).slice(0, 64)] = String(v.value).slice(0, 1024);
      }
      session.env.log.info({ session: session.id, client: kv }, 'client id');
    }
    session.write('* ID ("name" "rmb" "vendor" "rmb project")\r\n');
    await session.ok(tag, 'ID completed.');
  },
};
