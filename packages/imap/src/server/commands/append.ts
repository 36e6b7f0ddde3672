/**
 * APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315), MULTIAPPEND (RFC 3502: several messages,
 * all or none), literal8 messages (BINARY, RFC 3516 §4.4), the UTF8 form (UTF8=ACCEPT, RFC 6855
 * §4) and CATENATE (RFC 4469: TEXT literals and URLs of the user's own messages). The OK is sent
 * only after every mail object and the index entries are durable; the messages of one APPEND
 * are committed to the index together.
 */
import { MailError, type NewMessage, NotFound, QuotaExceeded, type StagedMessage, toCrlf } from '@rmb/librmb';
import type { CommandContext, CommandSpec, UserContext } from '../context.js';
import type { StreamedLiteral } from '../../protocol/reader.js';
import { tokenize, type Token } from '../../protocol/tokens.js';
import { parseMessageUrl } from '../../protocol/imap-url.js';
import { decodeMailboxName } from '../../protocol/utf7.js';
import { toSeqString } from '../../protocol/sequence.js';
import { bad, no } from '../errors.js';
import { parseFlagList } from './flags.js';
import { readSection } from './fetch.js';
import { isLoopback } from '../loopback.js';

import { parseDateTime } from '../../protocol/dates.js';

/** The answer to a MULTIAPPEND whose later message is above the APPEND limit (RFC 7889, RFC 4469 TOOBIG). */
export function tooBigInAppend(maxLiteralBytes: number): Error {
  return no('TOOBIG', `A message of the APPEND exceeds the limit of ${maxLiteralBytes} bytes`);
}

/** One message of an APPEND: its flags, date and where its bytes come from. */
interface Item {
  flags: string[];
  date: number;
  data?: Buffer;
  catenate?: Token[];
}

export const append: CommandSpec = {
  name: 'APPEND',
  tryCreate: true,
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run(ctx) {
    const { streamed } = ctx;
    try {
      await save(ctx);
    } catch (e) {
      // answer only once the client has sent the whole command (every message after a streamed one too)
      const failure = streamed ? await streamed.discardAll() : null;
      // a literal's own failure (a later message too big, bad arguments) is the answer, not what the save made of it
      throw failure ?? e;
    }
  },
};

/** Split APPEND's arguments after the mailbox into messages (RFC 3502 §6.3.11 append-data). */
function parseItems(session: CommandContext['session'], args: Token[]): Item[] {
  const items: Item[] = [];
  let i = 1;
  while (i < args.length) {
    const item: Item = { flags: [], date: Date.now() };
    if (args[i]?.type === 'list') item.flags = parseFlagList(args[i++] as Token & { type: 'list' });
    const d = args[i];
    if (d?.type === 'string' && !d.literal) item.date = parseDateTime(d.value.toString());
    if (d?.type === 'string' && !d.literal) i++;
    const m = args[i++];
    if (!m) throw bad('Invalid APPEND arguments: message missing');
    if (m.type === 'string' && m.literal) item.data = m.value;
    else if (m.type === 'atom' && m.value.toUpperCase() === 'UTF8') {
      // RFC 6855 §4: UTF8 (~{n}...) only once UTF8=ACCEPT is enabled
      if (!session.enabled.has('UTF8=ACCEPT')) throw bad('UTF8 APPEND needs ENABLE UTF8=ACCEPT');
      const l = args[i++];
      const lit = l?.type === 'list' && l.value.length === 1 ? l.value[0] : undefined;
      if (!lit || lit.type !== 'string' || !lit.literal || !lit.binary) throw bad('UTF8 needs one literal8');
      item.data = lit.value;
    } else if (m.type === 'atom' && m.value.toUpperCase() === 'CATENATE') {
      const l = args[i++];
      if (!l || l.type !== 'list' || !l.value.length) throw bad('CATENATE needs a list of parts');
      item.catenate = l.value;
    } else throw bad('Invalid APPEND arguments');
    items.push(item);
  }
  if (!items.length) throw bad('APPEND needs a mailbox and a message');
  return items;
}

/**
 * Whether an absolute URL's authority is this session's user on this server: no user or the
 * logged-in one (case-insensitively), the host the client connected to (its address, the
 * server's name, or localhost on loopback), and no port or the one connected to.
 */
function isThisServer(session: CommandContext['session'], s: { user?: string; host: string; port?: number }): boolean {
  if (s.user !== undefined && s.user.toLowerCase() !== (session.username ?? '').toLowerCase()) return false;
  if (s.port !== undefined && s.port !== session.socket.localPort) return false;
  const local = (session.socket.localAddress ?? '').replace(/^::ffff:/, '');
  const hosts = new Set([local, `[${local}]`, session.env.serverName.toLowerCase()]);
  if (isLoopback(session.socket.localAddress ?? '')) hosts.add('localhost');
  return hosts.has(s.host);
}

/** The bytes of a CATENATE list (RFC 4469 §3): TEXT literals and URL parts in order. */
async function catenate({ session, user }: UserContext, parts: Token[]): Promise<Buffer> {
  const out: Buffer[] = [];
  let size = 0;
  for (let k = 0; k < parts.length; k += 2) {
    const kind = parts[k];
    const val = parts[k + 1];
    const name = kind?.type === 'atom' ? kind.value.toUpperCase() : '';
    if (name === 'TEXT' && val?.type === 'string' && val.literal) {
      // text parts are normalised to CRLF like any saved message (RFC 9051 §2.3.1)
      const text = toCrlf(val.value);
      out.push(text);
      size += text.length;
      continue;
    }
    if (name !== 'URL' || !val || val.type === 'list') throw bad('Invalid CATENATE part');
    const url = val.type === 'atom' ? val.value : val.value.toString('utf8');
    const badUrl = (why: string) => no(`BADURL ${url.replace(/[\]\r\n]/g, '')}`, why);
    let u;
    try {
      u = parseMessageUrl(url);
    } catch (e) {
      throw badUrl((e as Error).message);
    }
    // an absolute URL must name this user on this server (RFC 5092 §5, RFC 4469 §5)
    if (u.server && !isThisServer(session, u.server)) throw badUrl('URL names another user or server');
    let box;
    if (u.mailbox === null) {
      if (!session.selected) throw badUrl('No mailbox selected for a relative URL');
      box = session.selected.mailbox;
    } else {
      try {
        box = await user.mailbox(decodeMailboxName(u.mailbox, false));
      } catch {
        throw badUrl('No such mailbox');
      }
    }
    const c = await box.counters();
    if (u.uidvalidity !== undefined && u.uidvalidity !== c.uidvalidity) throw badUrl('UIDVALIDITY does not match');
    const [e] = await box.entriesByUid([u.uid]);
    if (!e) throw badUrl('No such message');
    let data = await readSection(user, e, u.section);
    if (!data) throw badUrl('No such section');
    if (u.partial)
      data = data.subarray(
        Math.min(u.partial[0], data.length),
        u.partial[1] === undefined ? undefined : Math.min(u.partial[0] + u.partial[1], data.length),
      );
    out.push(data);
    size += data.length;
    if (size > session.env.limits.maxLiteralBytes) throw no('TOOBIG', 'Catenated message too large');
  }
  return Buffer.concat(out);
}

async function save(ctx: UserContext): Promise<void> {
  const { session, user, tag, args, streamed } = ctx;
  if (args.length < 2) throw bad('APPEND needs a mailbox and a message');
  const name = session.mailboxArg(args[0]);
  const items = parseItems(session, args);
  // a missing target mailbox is reported before any CATENATE URL is evaluated (RFC 4469 §5: TRYCREATE over BADURL)
  if (items.some((it) => it.catenate)) await user.mailbox(name);
  const messages: NewMessage[] = [];
  for (const [k, it] of items.entries()) {
    if (streamed && k === items.length - 1) break; // the streamed message, and any after it, below
    const data = it.catenate ? await catenate(ctx, it.catenate) : it.data;
    if (!data) throw bad('Invalid APPEND arguments: message missing');
    if (!data.length) throw no(null, "Can't save a zero byte message.");
    messages.push({ data, flags: it.flags.filter((f) => f !== '\\Recent'), internalDate: it.date });
  }
  const staged: StagedMessage[] = [];
  const commit = async () => {
    if (streamed) messages.push(...(await stageStreamed(ctx, name, items[items.length - 1], streamed, staged)));
    return user.appendTo(name, messages);
  };
  const { mailbox: mb, saved } = await commit().catch(async (e: unknown) => {
    // refused before its commit (no such mailbox, over quota, a message failed): nothing stays
    if (staged.length && (e instanceof NotFound || e instanceof QuotaExceeded || !(e instanceof MailError)))
      await user.discardStaged(staged);
    throw e;
  });
  const sel = session.selected;
  await session.sendUpdates(!!sel && sel.mailbox.id === mb.id);
  const uids = toSeqString(saved.map((s) => s.uid));
  session.reply(tag, 'OK', 'Append completed.', `APPENDUID ${saved[0].uidvalidity} ${uids}`);
}

/**
 * The streamed messages of an APPEND: the first (`item`, `first`) and every one the client sends
 * after it in the same MULTIAPPEND, each written to its own mail object as it arrives (never held
 * whole) and listed in `staged`; returned for one index commit with the others (RFC 3502: all or
 * none). Throws NotFound before reading any message when the mailbox does not exist.
 */
async function stageStreamed(
  { session, user }: UserContext,
  name: string,
  item: Item,
  first: StreamedLiteral,
  staged: StagedMessage[],
): Promise<NewMessage[]> {
  const mailbox = await user.mailbox(name);
  const out: NewMessage[] = [];
  let cur: StreamedLiteral = first;
  let { flags, date } = item;
  for (;;) {
    if (!cur.size) throw no(null, "Can't save a zero byte message.");
    flags = flags.filter((f) => f !== '\\Recent');
    const s = await user.stage(mailbox.id, cur, cur.size, flags, date);
    staged.push(s);
    out.push({ staged: s, flags, internalDate: date });
    const next = await cur.next();
    if (!next) return out;
    ({ flags, date } = streamedItem(session, next.text));
    cur = next.stream;
  }
}

/**
 * Flags and date of a MULTIAPPEND message that follows a streamed one, from the text before its
 * literal (` (\\Seen) "date"`, optionally ending in the UTF8 form's `UTF8 (~`). Throws BAD.
 */
function streamedItem(session: CommandContext['session'], text: string): { flags: string[]; date: number } {
  let t = text;
  const utf8 = /UTF8 \(~$/i.exec(t);
  if (utf8) {
    if (!session.enabled.has('UTF8=ACCEPT')) throw bad('UTF8 APPEND needs ENABLE UTF8=ACCEPT');
    t = t.slice(0, utf8.index);
  }
  const args = tokenize({ parts: [`t APPEND ${t.trim()}`], literals: [] }).args;
  const item = { flags: [] as string[], date: Date.now() };
  let i = 0;
  if (args[i]?.type === 'list') item.flags = parseFlagList(args[i++] as Token & { type: 'list' });
  const d = args[i];
  if (d?.type === 'string') {
    item.date = parseDateTime(d.value.toString());
    i++;
  }
  if (i !== args.length) throw bad('Invalid APPEND arguments');
  return item;
}
