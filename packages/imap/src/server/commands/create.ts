/**
 * CREATE (RFC 3501 §6.3.3): missing parents are created too; a trailing separator is ignored.
 * CREATE name (USE (\\Sent)) sets a special-use attribute (CREATE-SPECIAL-USE, RFC 6154 §3).
 */
import type { CommandSpec } from '../context.js';
import { expectArgs, type Token } from '../../protocol/tokens.js';
import { bad, no } from '../errors.js';

/** Special-use attributes a mailbox can be created with (RFC 6154 §2). */
const USES = ['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash'];

/** The (USE (attr)) parameter: one attribute, or null. Throws BAD, or NO [USEATTR]. */
function specialUse(t: Token | undefined): string | null {
  if (!t) return null;
  if (
    t.type !== 'list' ||
    t.value.length !== 2 ||
    t.value[0].type !== 'atom' ||
    t.value[0].value.toUpperCase() !== 'USE' ||
    t.value[1].type !== 'list'
  ) {
    throw bad('Invalid CREATE parameters');
  }
  const attrs = t.value[1].value.map((a) => (a.type === 'atom' ? a.value : ''));
  if (attrs.length !== 1) throw no('USEATTR', 'Exactly one special-use attribute per mailbox.');
  const use = USES.find((u) => u.toLowerCase() === attrs[0].toLowerCase());
  if (!use) throw no('USEATTR', `Unsupported special-use attribute ${attrs[0].slice(0, 30)}`);
  return use;
}

export const create: CommandSpec = {
  name: 'CREATE',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1, 2);
    let name = session.mailboxArg(args[0], true);
    if (name.endsWith('/')) name = name.replace(/\/+$/, '');
    const info = await user.createMailbox(name, specialUse(args[1]));
    await session.ok(tag, 'Create completed.', `MAILBOXID (${info.id})`); // RFC 8474 §4.1
  },
};
