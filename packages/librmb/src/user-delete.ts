/**
 * `rmb user delete USER`: every object of a user removed (issue 15 item 1), as `doveadm` has no
 * single command for (Dovecot deletes the home directory). The directory entry goes first, so no
 * new session finds the user's objects; then the objects of the user's namespace are listed in
 * pages and removed (mail objects with their stripes, indexes and their shards, the mailbox list,
 * METADATA). Sessions still open on the user may write again: run it once more, or kick them first.
 */
import { ObjectNotFound } from '@rmb/rados';
import { userNamespace } from './layout.js';
import type { MailStore } from './store.js';

/** Objects removed at once. */
const PARALLEL = 16;

/**
 * Delete user `name` from `store`: returns the objects removed; 0 and no error for a user with no
 * mail store. Throws the store's typed errors.
 */
export async function deleteUser(store: MailStore, name: string): Promise<number> {
  const id = await store.userId(name);
  if (!id) return 0;
  await store.directory.remove(name);
  store.forgetUser(name);
  const io = store.root.withNamespace(userNamespace(store.opts.namespace, id));
  let removed = 0;
  // objects are listed again until none is left: removing while listing may skip some
  for (;;) {
    const oids: string[] = [];
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const page = await io.list(cursor, 1000);
      for (const o of page.objects) oids.push(o.oid);
      cursor = page.cursor;
    }
    if (!oids.length) return removed;
    for (let i = 0; i < oids.length; i += PARALLEL)
      await Promise.all(
        oids.slice(i, i + PARALLEL).map((oid) =>
          io.remove(oid).then(
            () => removed++,
            (e: unknown) => {
              if (!(e instanceof ObjectNotFound)) throw e;
            },
          ),
        ),
      );
  }
}
