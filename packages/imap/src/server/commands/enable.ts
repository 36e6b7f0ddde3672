/**
 * ENABLE (RFC 5161): CONDSTORE and QRESYNC (RFC 7162), UTF8=ACCEPT (RFC 6855: mailbox names in
 * UTF-8, the UTF8 APPEND form); others are ignored as the RFC says.
 */
import type { CommandSpec } from '../context.js';
import { bad } from '../errors.js';

const KNOWN = new Set<string>(['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT']);

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
      if (c === 'UTF8=ACCEPT') session.utf8 = true;
      // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)
      if (c === 'QRESYNC' && !session.enabled.has('CONDSTORE')) { session.enabled.add('CONDSTORE'); done.push('CONDSTORE'); }
    }
    session.write(`* ENABLED${done.length ? ' ' + done.join(' ') : ''}\r\n`);
    await session.ok(tag, 'Enabled.');
  },
};
