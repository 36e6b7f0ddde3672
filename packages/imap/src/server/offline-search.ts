/**
 * SEARCH outside a session (the admin CLI's `rmb search` and `rmb expunge`, as `doveadm search`):
 * a query in IMAP SEARCH syntax (RFC 3501 §6.4.4, RFC 9051 §6.4.4) run over one mailbox with the
 * same parser and matcher as the SEARCH command, on a read-only view of the mailbox.
 */
import type { Mailbox, UserStore } from '@rmb/librmb';
import { parseSearch } from '../protocol/search.js';
import { tokenize } from '../protocol/tokens.js';
import { runSearch } from './commands/search.js';
import { SelectedView } from './selected.js';

/**
 * The UIDs of `mailbox` (of `user`) matching `query` (e.g. `UNSEEN SINCE 1-Jan-2024 FROM alice`),
 * ascending. Throws ParseError (or a CommandError) for a query that does not parse, and the
 * store's typed errors.
 */
export async function searchMailbox(user: UserStore, mailbox: Mailbox, query: string): Promise<number[]> {
  const args = tokenize({ parts: [`x SEARCH ${query}`], literals: [] }).args;
  const program = parseSearch(args);
  const view = new SelectedView(mailbox, true);
  await view.load(() => undefined);
  try {
    return (await runSearch(program.key, user, view)).map(([, uid]) => uid);
  } finally {
    await view.close();
  }
}
