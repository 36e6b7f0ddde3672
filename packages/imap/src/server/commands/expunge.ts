/** EXPUNGE and UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1), and CLOSE (§6.4.2). */
import type { CommandSpec, MailboxContext } from '../context.js';
import { asText } from '../../protocol/tokens.js';
import { parseSeqSet } from '../../protocol/sequence.js';
import { no, toResponse } from '../errors.js';

/** Expunge \Deleted messages (optionally only within a UID set); returns sequence numbers removed. */
export async function expungeDeleted(ctx: MailboxContext, uidSet?: string, silent = false): Promise<void> {
  const v = ctx.view;
  if (v.readOnly) throw no('READ-ONLY', 'Mailbox is read-only.');
  await v.refresh();
  let targets = v.deletedUids();
  if (uidSet !== undefined) {
    const allowed = new Set(v.resolve(parseSeqSet(uidSet), true).map(([, u]) => u));
    targets = targets.filter((u) => allowed.has(u));
  }
  const removed = targets.length ? await v.mailbox.expunge(targets) : [];
  const lines = v.expungeResponses(removed, ctx.session.enabled.has('QRESYNC'));
  if (!silent) ctx.session.write(lines);
}

export const expunge: CommandSpec = {
  name: 'EXPUNGE',
  states: ['selected'],
  breaksSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run(ctx) {
    await expungeDeleted(ctx, ctx.uid ? asText(ctx.args[0], 'UID set') : undefined);
    await ctx.session.ok(ctx.tag, 'Expunge completed.');
  },
};

export const close: CommandSpec = {
  name: 'CLOSE',
  states: ['selected'],
  breaksSequenceNumbers: true,
  needs: 'mailbox',
  async run(ctx) {
    const v = ctx.view;
    // the mailbox is closed whatever happens (the client leaves the selected state); a failed
    // expunge is logged and reported in an untagged NO with its code, as Dovecot does
    if (!v.readOnly) {
      await expungeDeleted(ctx, undefined, true).catch((e: unknown) => {
        const r = toResponse(e);
        ctx.session.env.log.warn({ err: e, session: ctx.session.id }, 'CLOSE: expunge failed');
        ctx.session.write(`* NO ${r.code ? `[${r.code}] ` : ''}Expunge on close failed: ${r.text}\r\n`);
      });
    }
    await ctx.session.select(undefined);
    ctx.session.reply(ctx.tag, 'OK', 'Close completed.');
  },
};
