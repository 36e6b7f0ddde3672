/**
 * COPY and MOVE, with their UID forms (RFC 3501 §6.4.7, RFC 6851, COPYUID of RFC 4315). The
 * target references the same mail objects: no message bytes are copied.
 */
import type { ResponseCode } from '../../protocol/response.js';
import type { CommandSpec, MailboxContext } from '../context.js';
import { asText, expectArgs } from '../../protocol/tokens.js';
import { parseSeqSet, toSeqString } from '../../protocol/sequence.js';
import { no } from '../errors.js';

async function copyOrMove(ctx: MailboxContext, move: boolean): Promise<void> {
  const { session, tag, args, uid } = ctx;
  expectArgs(args, 2);
  const v = ctx.view;
  const targets = v.resolve(parseSeqSet(asText(args[0], 'sequence set')), uid);
  const dest = await ctx.user.mailbox(session.mailboxArg(args[1]));
  if (move && v.readOnly) throw no('READ-ONLY', 'Mailbox is read-only.');
  const uids = targets.map(([, u]) => u);
  if (!uids.length) {
    await session.ok(tag, `${ctx.name} completed.`);
    return;
  }
  const res = move ? await v.mailbox.moveTo(uids, dest) : await v.mailbox.copyTo(uids, dest);
  const code: ResponseCode | undefined = res.pairs.length
    ? `COPYUID ${res.uidvalidity} ${toSeqString(res.pairs.map((p) => p[0]))} ${toSeqString(res.pairs.map((p) => p[1]))}`
    : undefined;
  if (move) {
    if (code) session.write(`* OK [${code}] Moved\r\n`);
    session.write(
      v.expungeResponses(
        res.pairs.map((p) => p[0]),
        session.enabled.has('QRESYNC'),
      ),
    );
    await session.sendUpdates(dest.id === v.mailbox.id);
    session.reply(tag, 'OK', `${ctx.name} completed.`);
    return;
  }
  await session.sendUpdates(dest.id === v.mailbox.id);
  session.reply(tag, 'OK', `${ctx.name} completed.`, code);
}

export const copy: CommandSpec = {
  name: 'COPY',
  tryCreate: true,
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  run: (ctx) => copyOrMove(ctx, false),
};

export const move: CommandSpec = {
  name: 'MOVE',
  tryCreate: true,
  states: ['selected'],
  usesSequenceNumbers: true,
  breaksSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  run: (ctx) => copyOrMove(ctx, true),
};
