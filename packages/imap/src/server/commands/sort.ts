/**
 * SORT and UID SORT (RFC 5256 §3, with SORT=DISPLAY's DISPLAYFROM/DISPLAYTO, RFC 5957), and
 * THREAD / UID THREAD with ORDEREDSUBJECT and REFERENCES (RFC 5256 §3). The messages are those
 * the search keys match; sort keys come from the stored metadata (one xattr read per message,
 * cached), no message bytes are read.
 */
import { decodeWords, type ImapAddress } from '@rmb/librmb';
import type { CommandSpec, MailboxContext } from '../context.js';
import { parseSearch } from '../../protocol/search.js';
import { type Token } from '../../protocol/tokens.js';
import {
  type AddressKey,
  renderThreads,
  type SortCriterion,
  sortMessages,
  type SortMessage,
  threadOrderedSubject,
  threadReferences,
} from '../../protocol/sort.js';
import { bad } from '../errors.js';
import { runSearch } from './search.js';

const KEYS = new Set(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

/** Parse a sort criteria list ("(REVERSE DATE SUBJECT)"). Throws BAD. */
export function parseCriteria(t: Token | undefined): SortCriterion[] {
  if (!t || t.type !== 'list' || !t.value.length) throw bad('SORT needs a list of sort criteria');
  const out: SortCriterion[] = [];
  let reverse = false;
  for (const x of t.value) {
    const k = x.type === 'atom' ? x.value.toUpperCase() : '';
    if (k === 'REVERSE') {
      if (reverse) throw bad('REVERSE twice');
      reverse = true;
      continue;
    }
    if (!KEYS.has(k)) throw bad(`Unknown sort criterion ${k.slice(0, 20)}`);
    out.push({ key: k as SortCriterion['key'], reverse });
    reverse = false;
  }
  if (reverse) throw bad('REVERSE without a criterion');
  return out;
}

/**
 * The first address of an ENVELOPE list (a group's start names the group: its name is the mailbox, RFC 3501 §7.4.2).
 */
function addr(list: ImapAddress[] | null): AddressKey | null {
  const a = list?.[0];
  if (!a) return null;
  return { mailbox: a.mailbox ?? '', host: a.host ?? '', name: a.name ? decodeWords(a.name) : null };
}

/** Search (charset + keys in `args`) and describe the matches for sorting or threading. */
async function matched(ctx: MailboxContext, charsetAndKeys: Token[]): Promise<SortMessage[]> {
  const [cs, ...keys] = charsetAndKeys;
  if (!cs || cs.type === 'list') throw bad('Missing charset');
  const prog = parseSearch([{ type: 'atom', value: 'CHARSET' }, cs, ...keys], ctx.session.env.limits.maxNestingDepth);
  const { view: v, user } = ctx;
  const found = await runSearch(prog.key, user, v);
  const out: SortMessage[] = [];
  const batch = 64;
  for (let i = 0; i < found.length; i += batch) {
    const part = await Promise.all(
      found.slice(i, i + batch).map(async ([seq, uid]) => {
        const e = v.entries.get(uid)!;
        const meta = await user.messageMeta(e);
        const env = meta.envelope;
        return {
          seq,
          uid,
          arrival: e.internalDate,
          sent: meta.search.date,
          size: e.size,
          subject: meta.search.subject,
          from: addr(env.from),
          to: addr(env.to),
          cc: addr(env.cc),
          messageId: env.messageId,
          inReplyTo: env.inReplyTo,
          references: meta.search.references,
        } satisfies SortMessage;
      }),
    );
    out.push(...part);
  }
  return out;
}

export const sort: CommandSpec = {
  name: 'SORT',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run(ctx) {
    const criteria = parseCriteria(ctx.args[0]);
    const msgs = sortMessages(await matched(ctx, ctx.args.slice(1)), criteria);
    const nums = msgs.map((m) => (ctx.uid ? m.uid : m.seq));
    ctx.session.write(`* SORT${nums.length ? ' ' + nums.join(' ') : ''}\r\n`);
    await ctx.session.ok(ctx.tag, 'Sort completed.');
  },
};

export const thread: CommandSpec = {
  name: 'THREAD',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run(ctx) {
    const alg = ctx.args[0]?.type === 'atom' ? ctx.args[0].value.toUpperCase() : '';
    if (alg !== 'ORDEREDSUBJECT' && alg !== 'REFERENCES') throw bad('Unknown threading algorithm');
    const msgs = await matched(ctx, ctx.args.slice(1));
    const roots = alg === 'REFERENCES' ? threadReferences(msgs) : threadOrderedSubject(msgs);
    const threads = renderThreads(roots, (m) => (ctx.uid ? m.uid : m.seq));
    ctx.session.write(`* THREAD${threads ? ' ' + threads : ''}\r\n`);
    await ctx.session.ok(ctx.tag, 'Thread completed.');
  },
};
