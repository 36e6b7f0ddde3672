/**
 * ENABLE (RFC 5161): CONDSTORE and QRESYNC (RFC 7162), UTF8=ACCEPT (RFC 6855: mailbox names in
 * UTF-8, the UTF8 APPEND form), IMAP4rev2 (RFC 9051: also no \Recent/RECENT, ESEARCH for every
 * SEARCH, LIST in SELECT); others are ignored as the RFC says.
 */
import type { CommandSpec } from '../context.js';
import { bad } from '../errors.js';

const KNOWN = new Set<string>(['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT', 'IMAP4REV2']);

export const enable: CommandSpec = {
  name: 'ENABLE',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    if (!args.length) throw bad('ENABLE needs capability names');
    const done: string[] = [];
    for (const a of args) {
      if (a.type !== 'atom') throw bad('Invalid capability name');
      const c = a.value.toUpperCase();
      if (KNOWN.has(c) && !session.enabled.has(c)) {
        if (c === 'CONDSTORE') session.enableCondstore();
        else session.enabled.add(c);
        done.push(c);
      }
      // UTF8=ACCEPT and IMAP4rev2 (RFC 9051 §5.1: mailbox names in UTF-8) switch off modified UTF-7
      if (c === 'UTF8=ACCEPT' || c === 'IMAP4REV2') session.utf8 = true;
      // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)
      if (c === 'QRESYNC' && !session.enabled.has('CONDSTORE')) {
        session.enableCondstore();
        done.push('CONDSTORE');
      }
    }
    session.write(
      `* ENABLED${done.length ? ' ' + done.map((c) => (c === 'IMAP4REV2' ? 'IMAP4rev2' : c)).join(' ') : ''}\r\n`,
    );
    await session.ok(tag, 'Enabled.');
  },
};
