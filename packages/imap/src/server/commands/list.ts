/**
 * LIST and LSUB (RFC 3501 §6.3.8-9) with special-use attributes (RFC 6154) and child info
 * (RFC 3348 \HasChildren / \HasNoChildren).
 */
import type { CommandContext, CommandSpec } from '../context.js';
import { asText, expectArgs } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { decodeMailboxName } from '../../protocol/utf7.js';

/** Compile a LIST pattern: "*" matches anything, "%" anything but the separator. */
export function patternRegExp(pattern: string): RegExp {
  const esc = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/%/g, '[^/]*');
  return new RegExp(`^${esc}$`, /^inbox/i.test(pattern) ? 'i' : '');
}

async function list(ctx: CommandContext, lsub: boolean): Promise<void> {
  const { session, tag, args } = ctx;
  expectArgs(args, 2);
  const ref = decodeMailboxName(asText(args[0], 'reference'), session.utf8);
  const pat = decodeMailboxName(asText(args[1], 'pattern'), session.utf8);
  if (pat === '') {
    session.write(`* ${lsub ? 'LSUB' : 'LIST'} (\\Noselect) "/" ""\r\n`);
    await session.ok(tag, `${ctx.name} completed.`);
    return;
  }
  const full = ref && !ref.endsWith('/') && !pat.startsWith('/') ? `${ref}/${pat}` : ref + pat;
  const re = patternRegExp(full);
  const boxes = await session.user!.mailboxes();
  const names = new Set(boxes.map((b) => b.name));
  const subs = new Set(await session.user!.subscriptions());
  const lines: string[] = [];
  const candidates = lsub ? [...subs] : boxes.map((b) => b.name);
  for (const name of candidates) {
    if (!re.test(name)) continue;
    const info = boxes.find((b) => b.name === name);
    const attrs: string[] = [];
    if (!info) attrs.push(lsub ? '\\Noselect' : '\\NonExistent');
    const hasChildren = [...names].some((n) => n.startsWith(name + '/'));
    if (!lsub) attrs.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (info?.specialUse && !lsub) attrs.push(info.specialUse);
    lines.push(`* ${lsub ? 'LSUB' : 'LIST'} (${attrs.join(' ')}) "/" ${str(session.mailboxOut(name))}\r\n`);
  }
  session.write(lines);
  await session.ok(tag, `${ctx.name} completed.`);
}

export const listCommand: CommandSpec = { name: 'LIST', states: ['authenticated', 'selected'], run: (ctx) => list(ctx, false) };
export const lsubCommand: CommandSpec = { name: 'LSUB', states: ['authenticated', 'selected'], run: (ctx) => list(ctx, true) };
