/**
 * The doveadm-style admin commands on users' mail (issue 15 item 1), usable while servers run:
 *   rmb mailbox list|status|create|delete|rename USER ...   (doveadm mailbox list/status/create/delete/rename)
 *   rmb export USER DIR [--format maildir|mbox]              (doveadm backup/export to a Maildir or mbox)
 *   rmb import USER DIR [--format maildir|mbox]              (doveadm import)
 *   rmb user delete USER                                     (deleting the user's home; addUserDelete)
 * Output as aligned text, or one JSON document with `--json`.
 */
import type { Command } from 'commander';
import { deleteUser, type MailStore } from '@rmb/librmb';
import {
  DEFAULT_SYNC,
  MigrationState,
  UserSync,
  exportMaildir,
  exportMbox,
  openMaildirSource,
  openMboxSource,
} from '@rmb/migrate';
import { type Base, type Common, type ConfigOrExit, withStore } from './cli-common.js';
import { PasswdFile } from './passwd.js';

type Format = 'maildir' | 'mbox';

/** The user's store, or an Error naming a user without one. */
async function userOf(store: MailStore, name: string) {
  if (!(await store.userId(name))) throw new Error(`no mail store for user ${name}`);
  return store.user(name, false);
}

/** Print `rows` as aligned columns (or JSON). */
function print(rows: Record<string, unknown>[], json?: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  if (!rows.length) return;
  const cols = Object.keys(rows[0]);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(w[i]))
      .join('  ')
      .trimEnd() + '\n';
  process.stdout.write(line(cols));
  for (const r of rows) process.stdout.write(line(cols.map((c) => String(r[c] ?? ''))));
}

const format = (v: string): Format => {
  if (v !== 'maildir' && v !== 'mbox') throw new Error(`--format is maildir or mbox, not ${v}`);
  return v;
};

/** Add the commands of this module to `program`. */
export function addMailCommands(program: Command, common: Common, configOrExit: ConfigOrExit): void {
  const mailbox = program.command('mailbox').description("a user's mailboxes");
  common(
    mailbox.command('list <user>').description('mailboxes with special-use and subscription').option('--json'),
  ).action(async (user: string, o: Base) => {
    const rows = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await userOf(store, user);
      const subs = new Set(await u.subscriptions());
      return (await u.mailboxes()).map((b) => ({
        mailbox: b.name,
        specialUse: b.specialUse ?? '',
        subscribed: subs.has(b.name),
      }));
    });
    print(rows, o.json);
  });
  common(
    mailbox.command('status <user> [mailbox]').description('STATUS of one mailbox or all').option('--json'),
  ).action(async (user: string, name: string | undefined, o: Base) => {
    const rows = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await userOf(store, user);
      const names = name ? [name] : (await u.mailboxes()).map((b) => b.name);
      const out: Record<string, unknown>[] = [];
      for (const n of names) {
        const mb = await u.mailbox(n);
        const c = await mb.counters();
        out.push({
          mailbox: mb.name,
          messages: c.messages,
          unseen: c.unseen,
          uidnext: c.uidnext,
          uidvalidity: c.uidvalidity,
          highestmodseq: c.highestModseq,
          bytes: c.bytes,
        });
      }
      return out;
    });
    print(rows, o.json);
  });
  common(mailbox.command('create <user> <mailbox>').description('CREATE a mailbox')).action(
    async (user: string, name: string, o: Base) => {
      await withStore(configOrExit(o.config, o.set), async (store) => (await userOf(store, user)).createMailbox(name));
      process.stdout.write(`created ${name}\n`);
    },
  );
  common(mailbox.command('delete <user> <mailbox>').description('DELETE a mailbox and its mail')).action(
    async (user: string, name: string, o: Base) => {
      await withStore(configOrExit(o.config, o.set), async (store) => (await userOf(store, user)).deleteMailbox(name));
      process.stdout.write(`deleted ${name}\n`);
    },
  );
  common(mailbox.command('rename <user> <from> <to>').description('RENAME a mailbox and its children')).action(
    async (user: string, from: string, to: string, o: Base) => {
      await withStore(configOrExit(o.config, o.set), async (store) =>
        (await userOf(store, user)).renameMailbox(from, to),
      );
      process.stdout.write(`renamed ${from} to ${to}\n`);
    },
  );

  common(
    program
      .command('export <user> <dir>')
      .description("write a user's mail to DIR as a Maildir++ tree or mbox files (flags, keywords, dates, UIDs kept)")
      .option('--format <format>', 'maildir or mbox', format, 'maildir' as Format)
      .option('--json'),
  ).action(async (user: string, dir: string, o: Base & { format: Format }) => {
    const r = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await userOf(store, user);
      return o.format === 'mbox' ? exportMbox(u, dir) : exportMaildir(u, dir);
    });
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else process.stdout.write(`${r.mailboxes} mailboxes, ${r.messages} messages, ${r.bytes} bytes written to ${dir}\n`);
    for (const k of r.droppedKeywords)
      process.stderr.write(`rmb export: keyword left out (26 per Maildir folder): ${k}\n`);
  });

  common(
    program
      .command('import <user> <dir>')
      .description(
        'copy a Maildir tree or mbox files into a user (flags, keywords, dates; UIDs and UIDVALIDITY where ' +
          'the source has them); run again, it copies what changed',
      )
      .option('--format <format>', 'maildir or mbox', format, 'maildir' as Format)
      .option('--json'),
  ).action(async (user: string, dir: string, o: Base & { format: Format }) => {
    const counters = await withStore(configOrExit(o.config, o.set), async (store, cfg) => {
      const state = new MigrationState(await store.cluster.ioCtx(cfg.store.pool, `${cfg.store.namespace}import`));
      const source = o.format === 'mbox' ? await openMboxSource(dir) : await openMaildirSource(dir, 'maildir++');
      try {
        return await new UserSync(store, state, user, source, DEFAULT_SYNC).run();
      } finally {
        await source.close();
      }
    });
    if (o.json) process.stdout.write(JSON.stringify(counters, null, 2) + '\n');
    else process.stdout.write(`imported into ${user}: ${JSON.stringify(counters)}\n`);
  });
}

/** Add `delete USER` to the `rmb user` command group. */
export function addUserDelete(userCommand: Command, common: Common, configOrExit: ConfigOrExit): void {
  common(
    userCommand
      .command('delete <user>')
      .description("remove a user: the passwd entry, the directory entry and every object of the user's mail"),
  ).action(async (user: string, o: Base) => {
    const cfg = configOrExit(o.config, o.set);
    const inPasswd = new PasswdFile(cfg.auth.passwdFile).remove(user);
    const n = await withStore(cfg, (store) => deleteUser(store, user));
    process.stdout.write(`${user}: ${inPasswd ? 'passwd entry removed, ' : ''}${n} objects removed\n`);
  });
}
