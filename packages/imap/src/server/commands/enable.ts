/** ENABLE (RFC 5161). Only extensions implemented are enabled; others are ignored as the RFC says. */
import type { CommandSpec } from '../context.js';
import { bad } from '../errors.js';

const KNOWN = new Set<string>([]);

export const enable: CommandSpec = {
  name: 'ENABLE',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    if (!args.length) throw bad('ENABLE needs capability names');
    const done: string[] = [];
    for (const a of args) {
      if (a.type !== 'atom') throw bad('Invalid capability name');
      const c = a.value.toUpperCase();
      if (KNOWN.has(c) && !session.enabled.has(c)) { session.enabled.add(c); done.push(c); }
    }
    session.write(`* ENABLED${done.length ? ' ' + done.join(' ') : ''}\r\n`);
    await session.ok(tag, 'Enabled.');
  },
};
