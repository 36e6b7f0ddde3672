/** SELECT and EXAMINE (RFC 3501 §6.3.1-2): load the index, report counts, watch for changes. */
import type { CommandContext, CommandSpec } from '../context.js';
import { expectArgs } from '../../protocol/tokens.js';
import { SelectedView } from '../selected.js';

const FLAGS = '\\Answered \\Flagged \\Deleted \\Seen \\Draft';

async function open(ctx: CommandContext, readOnly: boolean): Promise<void> {
  const { session, tag, args } = ctx;
  expectArgs(args, 1);
  const name = session.mailboxArg(args[0]);
  await session.select(undefined);
  const mb = await session.user!.mailbox(name);
  const view = new SelectedView(mb, readOnly);
  await view.load(() => session.onMailboxChange());
  if (!readOnly) {
    const r = await mb.claimRecent();
    view.recentFrom = r.from;
    view.checkCounters(r.counters);
  } else view.checkCounters(await mb.counters());
  await session.select(view);
  const keywords = new Set<string>();
  for (const e of view.entries.values()) for (const f of e.flags) if (!f.startsWith('\\')) keywords.add(f);
  const flags = [FLAGS, ...keywords].join(' ');
  session.write([
    `* FLAGS (${flags})\r\n`,
    `* OK [PERMANENTFLAGS (${readOnly ? '' : `${flags} \\*`})] Flags permitted.\r\n`,
    `* ${view.exists} EXISTS\r\n`,
    `* ${view.recentCount} RECENT\r\n`,
    ...(view.firstUnseen() ? [`* OK [UNSEEN ${view.firstUnseen()}] First unseen.\r\n`] : []),
    `* OK [UIDVALIDITY ${view.uidvalidity}] UIDs valid\r\n`,
    `* OK [UIDNEXT ${view.uidnext}] Predicted next UID\r\n`,
  ]);
  session.write(`${tag} OK [${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${ctx.name} completed.\r\n`);
}

export const select: CommandSpec = {
  name: 'SELECT',
  states: ['authenticated', 'selected'],
  run: (ctx) => open(ctx, false),
};

export const examine: CommandSpec = {
  name: 'EXAMINE',
  states: ['authenticated', 'selected'],
  run: (ctx) => open(ctx, true),
};
