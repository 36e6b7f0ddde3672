/**
 * APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315). The OK is sent only after the mail object
 * and its index entry are durable.
 */
import type { CommandContext, CommandSpec } from '../context.js';
import type { StreamedLiteral } from '../../protocol/reader.js';
import { ParseError, type Token } from '../../protocol/tokens.js';
import { bad, no } from '../errors.js';
import { parseFlagList } from './flags.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Parse an IMAP date-time ("17-Jul-1996 02:44:25 -0700") to ms since epoch. Throws ParseError. */
export function parseDateTime(s: string): number {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  const mon = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase()) : -1;
  if (!m || mon < 0) throw new ParseError('Invalid date-time');
  const utc = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const off = (Number(m[8]) * 60 + Number(m[9])) * 60000 * (m[7] === '+' ? 1 : -1);
  return utc - off;
}

export const append: CommandSpec = {
  name: 'APPEND',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args, streamed }) {
    try {
      await save(session, tag, args, streamed);
    } catch (e) {
      await streamed?.discard(); // answer only once the client has sent the whole literal
      throw e;
    }
  },
};

async function save(session: CommandContext['session'], tag: string, args: Token[], streamed: StreamedLiteral | undefined): Promise<void> {
  {
    if (args.length < 2 || args.length > 4) throw bad('APPEND needs a mailbox and a message');
    const name = session.mailboxArg(args[0]);
    let i = 1;
    let flags: string[] = [];
    let date = Date.now();
    if (args[i]?.type === 'list') flags = parseFlagList(args[i++] as Token & { type: 'list' });
    if (args[i]?.type === 'string' && !(args[i] as { literal: boolean }).literal && args.length - i === 2) {
      date = parseDateTime((args[i++] as { value: Buffer }).value.toString());
    }
    const msg = args[i];
    if (!msg || msg.type !== 'string' || i !== args.length - 1) throw bad('Invalid APPEND arguments');
    if (!streamed && !msg.value.length) throw no(null, "Can't save a zero byte message.");
    const keep = flags.filter((f) => f !== '\\Recent');
    const message = streamed
      ? { stream: { source: streamed, size: streamed.size }, flags: keep, internalDate: date }
      : { data: msg.value, flags: keep, internalDate: date };
    const { mailbox: mb, saved: [saved] } = await session.user!.appendTo(name, [message]);
    const sel = session.selected;
    await session.sendUpdates(!!sel && sel.mailbox.id === mb.id);
    session.write(`${tag} OK [APPENDUID ${saved.uidvalidity} ${saved.uid}] Append completed.\r\n`);
  }
}
