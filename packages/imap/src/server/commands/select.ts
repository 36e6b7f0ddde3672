/** SELECT and EXAMINE (RFC 3501 §6.3.1-2): load the index, report counts, watch for changes. */
import type { CommandContext, CommandSpec, UserContext } from '../context.js';
import { str } from '../../protocol/encode.js';
import { expectArgs, type Token } from '../../protocol/tokens.js';
import { absentRanges, inSet, parseSeqSet, rangesString, type SeqSet, toSeqString } from '../../protocol/sequence.js';
import { bad } from '../errors.js';
import { SelectedView } from '../selected.js';

/** QRESYNC parameters of SELECT (RFC 7162 §3.2.5). */
interface Qresync {
  uidvalidity: number;
  modseq: number;
  known?: SeqSet;
}

/** SELECT/EXAMINE parameters: (CONDSTORE) or (QRESYNC (uidvalidity modseq [known-uids ...])). Throws BAD. */
function selectParams(t: Token | undefined, qresyncEnabled: boolean): { condstore: boolean; qresync?: Qresync } {
  if (!t) return { condstore: false };
  if (t.type !== 'list') throw bad('Invalid SELECT parameters');
  let condstore = false;
  let qresync: Qresync | undefined;
  for (let i = 0; i < t.value.length; i++) {
    const p = t.value[i];
    const name = p.type === 'atom' ? p.value.toUpperCase() : '';
    if (name === 'CONDSTORE') condstore = true;
    else if (name === 'QRESYNC') {
      if (!qresyncEnabled) throw bad('QRESYNC is not enabled');
      const q = t.value[++i];
      if (!q || q.type !== 'list' || q.value.length < 2) throw bad('QRESYNC needs (uidvalidity modseq [known-uids])');
      const [uv, ms, known] = q.value.map((x) => (x.type === 'atom' ? x.value : ''));
      if (!/^\d+$/.test(uv) || !/^\d+$/.test(ms) || Number(uv) === 0) throw bad('Invalid QRESYNC parameters');
      qresync = { uidvalidity: Number(uv), modseq: Number(ms), known: known ? parseSeqSet(known) : undefined };
    } else throw bad('Unknown SELECT parameter');
  }
  return { condstore, qresync };
}

async function open(ctx: UserContext, readOnly: boolean): Promise<void> {
  const { session, tag, args } = ctx;
  expectArgs(args, 1, 2);
  const name = session.mailboxArg(args[0]);
  const params = selectParams(args[1], session.enabled.has('QRESYNC'));
  if (params.condstore) session.enabled.add('CONDSTORE');
  const rev2 = session.enabled.has('IMAP4REV2');
  // the mailbox selected before is closed: say so when QRESYNC or IMAP4rev2 is on (RFC 7162 §3.2.11, RFC 9051 §6.3.2)
  if (session.selected && (session.enabled.has('QRESYNC') || rev2))
    session.write('* OK [CLOSED] Previous mailbox closed.\r\n');
  await session.select(undefined);
  const mb = await ctx.user.mailbox(name);
  const view = new SelectedView(mb, readOnly, session.env.log, session.env.store.indexCaches);
  view.noRecent = rev2;
  await view.load(() => session.onMailboxChange());
  // SELECT claims the messages no session has seen as \Recent yet; EXAMINE claims nothing (RFC 3501 §6.3.2)
  view.checkCounters(readOnly ? await mb.counters() : await view.claimRecent());
  await session.select(view);
  session.write([
    ...view.flagsResponses().map((l) => `${l}\r\n`),
    `* ${view.exists} EXISTS\r\n`,
    // IMAP4rev2 drops RECENT and [UNSEEN] and names the mailbox in a LIST response (RFC 9051 §6.3.2)
    ...(rev2 ? [`* LIST () "/" ${str(session.mailboxOut(mb.name))}\r\n`] : [`* ${view.recentCount} RECENT\r\n`]),
    ...(view.firstUnseen() && !rev2 ? [`* OK [UNSEEN ${view.firstUnseen()}] First unseen.\r\n`] : []),
    `* OK [UIDVALIDITY ${view.uidvalidity}] UIDs valid\r\n`,
    `* OK [UIDNEXT ${view.uidnext}] Predicted next UID\r\n`,
    `* OK [HIGHESTMODSEQ ${view.modseq}] Highest\r\n`,
    `* OK [MAILBOXID (${mb.id})] Ok\r\n`, // RFC 8474 §4.2
  ]);
  if (params.qresync && params.qresync.uidvalidity === view.uidvalidity) await resync(ctx, view, params.qresync);
  session.reply(tag, 'OK', `${ctx.name} completed.`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
}

/**
 * Quick resynchronisation (RFC 7162 §3.2.5.1): VANISHED (EARLIER) for the known UIDs expunged
 * since the client's modseq, then FETCH (UID FLAGS MODSEQ) for every message changed since.
 */
async function resync(ctx: CommandContext, view: SelectedView, q: Qresync): Promise<void> {
  const { log, complete } = await view.mailbox.changesSince(q.modseq);
  const known = q.known && 'ranges' in q.known ? q.known : undefined;
  let vanished: string;
  if (complete) {
    const gone = [...new Set(log.filter((l) => l.kind === 'expunge').flatMap((l) => l.uids))].filter(
      (u) => !view.entries.has(u) && (!known || inSet(known, u, Math.max(view.uidnext - 1, u))),
    );
    vanished = toSeqString(gone);
  } else {
    // the log was trimmed past the client's modseq: every UID it may know that is gone (RFC 7162 §3.2.5.2)
    vanished = rangesString(absentRanges(view.uids, view.uidnext - 1, known?.ranges));
  }
  const lines: string[] = [];
  if (vanished) lines.push(`* VANISHED (EARLIER) ${vanished}\r\n`);
  view.uids.forEach((u, i) => {
    const e = view.entries.get(u)!;
    if (e.modseq > q.modseq)
      lines.push(`* ${i + 1} FETCH (UID ${u} FLAGS (${view.flagsOf(e).join(' ')}) MODSEQ (${e.modseq}))\r\n`);
  });
  ctx.session.write(lines);
}

export const select: CommandSpec = {
  name: 'SELECT',
  states: ['authenticated', 'selected'],
  needs: 'user',
  run: (ctx) => open(ctx, false),
};

export const examine: CommandSpec = {
  name: 'EXAMINE',
  states: ['authenticated', 'selected'],
  needs: 'user',
  run: (ctx) => open(ctx, true),
};
