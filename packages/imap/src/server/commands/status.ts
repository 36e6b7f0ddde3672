/** STATUS (RFC 3501 §6.3.10): counters from the index header, one round trip. */
import type { Mailbox } from '@rmb/librmb';
import type { CommandSpec } from '../context.js';
import type { Session } from '../session.js';
import { asList, expectArgs, type Token } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { bad } from '../errors.js';

/** Parse a STATUS item list (also LIST-STATUS's RETURN (STATUS (...))). Throws BAD. */
export function statusItems(t: Token | undefined): string[] {
  const items = asList(t, 'status items').map((x) => (x.type === 'atom' ? x.value.toUpperCase() : ''));
  if (!items.length) throw bad('Empty status item list');
  for (const it of items) if (!STATUS_ITEMS.has(it)) throw bad(`Unknown status item ${it.slice(0, 30)}`);
  return items;
}

const STATUS_ITEMS = new Set([
  'MESSAGES',
  'RECENT',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'MAILBOXID',
  'SIZE',
  'APPENDLIMIT',
  'HIGHESTMODSEQ',
  'DELETED',
]);

/** The `* STATUS name (...)` line for a mailbox (RFC 3501 §7.2.4), one index read. */
export async function statusLine(session: Session, mb: Mailbox, items: string[]): Promise<string> {
  const c = await mb.counters();
  const out: string[] = [];
  for (const it of items) {
    switch (it) {
      case 'MESSAGES':
        out.push(`MESSAGES ${c.messages}`);
        break;
      case 'RECENT':
        out.push(`RECENT ${await mb.recentCount(c)}`);
        break; // RFC 3501 §2.3.2
      case 'UIDNEXT':
        out.push(`UIDNEXT ${c.uidnext}`);
        break;
      case 'UIDVALIDITY':
        out.push(`UIDVALIDITY ${c.uidvalidity}`);
        break;
      case 'UNSEEN':
        out.push(`UNSEEN ${c.unseen}`);
        break;
      case 'MAILBOXID':
        out.push(`MAILBOXID (${mb.id})`);
        break; // RFC 8474 §4.3
      case 'SIZE':
        out.push(`SIZE ${c.bytes}`);
        break; // RFC 8438
      case 'APPENDLIMIT':
        out.push(`APPENDLIMIT ${session.env.limits.maxLiteralBytes}`);
        break; // RFC 7889
      case 'HIGHESTMODSEQ':
        out.push(`HIGHESTMODSEQ ${c.highestModseq}`);
        break; // RFC 7162 §3.1.6
      // RFC 9051 §6.3.11: the index counter; an index made before rmb kept one is counted by
      // reading it whole
      case 'DELETED':
        out.push(`DELETED ${c.deleted ?? (await mb.entries()).filter((e) => e.flags.includes('\\Deleted')).length}`);
        break;
    }
  }
  return `* STATUS ${str(session.mailboxOut(mb.name))} (${out.join(' ')})\r\n`;
}

export const status: CommandSpec = {
  name: 'STATUS',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 2);
    const name = session.mailboxArg(args[0]);
    const items = statusItems(args[1]);
    if (items.includes('HIGHESTMODSEQ')) session.enableCondstore(); // RFC 7162 §3.1
    const mb = await user.mailbox(name);
    session.write(await statusLine(session, mb, items));
    await session.ok(tag, 'Status completed.');
  },
};
