/** STATUS (RFC 3501 §6.3.10): counters from the index header, one round trip. */
import type { CommandSpec } from '../context.js';
import { asList, expectArgs } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { bad } from '../errors.js';

export const status: CommandSpec = {
  name: 'STATUS',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 2);
    const name = session.mailboxArg(args[0]);
    const items = asList(args[1], 'status items').map((t) => (t.type === 'atom' ? t.value.toUpperCase() : ''));
    if (!items.length) throw bad('Empty status item list');
    const mb = await session.user!.mailbox(name);
    const c = await mb.counters();
    const out: string[] = [];
    for (const it of items) {
      switch (it) {
        case 'MESSAGES': out.push(`MESSAGES ${c.messages}`); break;
        case 'RECENT': out.push(`RECENT ${Math.max(0, Math.min(c.messages, c.uidnext - c.firstRecent))}`); break;
        case 'UIDNEXT': out.push(`UIDNEXT ${c.uidnext}`); break;
        case 'UIDVALIDITY': out.push(`UIDVALIDITY ${c.uidvalidity}`); break;
        case 'UNSEEN': out.push(`UNSEEN ${c.unseen}`); break;
        case 'MAILBOXID': out.push(`MAILBOXID (${mb.id})`); break; // RFC 8474 §4.3
        case 'SIZE': out.push(`SIZE ${c.bytes}`); break; // RFC 8438
        case 'APPENDLIMIT': out.push(`APPENDLIMIT ${session.env.limits.maxLiteralBytes}`); break; // RFC 7889
        case 'HIGHESTMODSEQ': out.push(`HIGHESTMODSEQ ${c.highestModseq}`); break; // RFC 7162 §3.1.6
        default: throw bad(`Unknown status item ${it.slice(0, 30)}`);
      }
    }
    session.write(`* STATUS ${str(session.mailboxOut(mb.name))} (${out.join(' ')})\r\n`);
    await session.ok(tag, 'Status completed.');
  },
};
