#!/usr/bin/env node
/**
 * The rmb command line: `rmb serve` (the daemon), `rmb user add|list|passwd|quota` (admin) and
 * `rmb migrate users|plan|sync|verify|status|report` (migration, migrate-cli.ts).
 */
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { type Config, ConfigError, loadConfig } from './config.js';
import { PasswdFile, type WritableScheme } from './passwd.js';
import { userNameProblem } from '@rmb/librmb';
import { addMigrateCommands } from './migrate-cli.js';
import { addAdminCommands } from './admin-cli.js';
import { addMailCommands, addUserDelete } from './admin-mail-cli.js';
import { addFetchCommands } from './admin-fetch-cli.js';
import { openStore, serve } from './serve.js';
import { exitAfter, isWorker, reloadOn, runPrimary, runWorker } from './workers.js';
import { availableParallelism } from 'node:os';

/** The configuration, or exit 1 with one line naming the setting that is wrong. */
function configOrExit(file: string | undefined, sets: string[]): Config {
  try {
    return loadConfig(file, sets);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`rmb: config: ${e.message}\n`);
    process.exit(1);
  }
}

const program = new Command();
program.name('rmb').description('rmb: IMAP and LMTP mail store on RADOS').version('0.1.0');

const collect = (v: string, prev: string[]) => [...prev, v];
const common = (c: Command) =>
  c
    .option('-c, --config <file>', 'YAML config file')
    .option('-s, --set <key=value>', 'override a config setting (repeatable)', collect, []);

common(program.command('serve').description('run the IMAP, IMAPS and LMTP listeners'))
  .option('--demo', 'create a demo user (demo / demo) if the passwd file has none')
  .action(async (o: { config?: string; set: string[]; demo?: boolean }) => {
    const cfg = configOrExit(o.config, o.set);
    // SIGHUP: read the config file again (the same --set overrides apply) and reload (Running.reload)
    const reread = () => loadConfig(o.config, o.set);
    if (isWorker()) return runWorker(cfg, reread);
    const passwd = new PasswdFile(cfg.auth.passwdFile);
    if (o.demo && !passwd.find('demo')) passwd.set('demo', 'demo');
    const workers = cfg.workers || availableParallelism();
    const r = workers > 1 ? await runPrimary(cfg, workers) : await serve(cfg);
    process.stdout.write(
      [
        '',
        `rmb is running (data in ${cfg.dataDir}).`,
        `  IMAP     ${cfg.imap.host}:${r.ports.imap} ` +
          `(STARTTLS)${r.ports.imaps ? `, IMAPS ${cfg.imap.host}:${r.ports.imaps}` : ''}`,
        r.ports.lmtp
          ? `  LMTP     ${cfg.lmtp.host}:${r.ports.lmtp}   (Postfix: mailbox_transport = ` +
            `lmtp:inet:${cfg.lmtp.host}:${r.ports.lmtp})`
          : '',
        o.demo ? '  Log in as demo / demo (self-signed certificate).' : '',
        workers > 1 ? `  ${workers} worker processes share the listeners.` : '',
        r.ports.metrics ? `  Metrics  ${cfg.metrics.host}:${r.ports.metrics}/metrics` : '',
        `READY imap=${r.ports.imap} imaps=${r.ports.imaps ?? ''} lmtp=${r.ports.lmtp ?? ''} ` +
          `metrics=${r.ports.metrics ?? ''}`,
        '',
      ]
        .filter((l) => l !== '')
        .join('\n') + '\n',
    );
    const stop = exitAfter(() => r.stop());
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => void reloadOn(r, reread));
  });

const user = program.command('user').description('manage users (passwd file) and their quota');
common(
  user
    .command('add <name>')
    .description('add a user')
    .requiredOption('-p, --password <password>', 'password')
    .option('--scheme <scheme>', 'SCRAM-SHA-256, SHA512-CRYPT or BLF-CRYPT', 'SCRAM-SHA-256'),
).action((name: string, o: { config?: string; set: string[]; password: string; scheme: WritableScheme }) => {
  const cfg = configOrExit(o.config, o.set);
  const p = new PasswdFile(cfg.auth.passwdFile);
  const problem = userNameProblem(name);
  if (problem) {
    process.stderr.write(`user name refused: ${problem}\n`);
    process.exit(1);
  }
  if (p.find(name)) {
    process.stderr.write(`user ${name} exists\n`);
    process.exit(1);
  }
  p.set(name, o.password, o.scheme);
  process.stdout.write(`added ${name}\n`);
});
common(
  user
    .command('passwd <name>')
    .description("change a user's password")
    .requiredOption('-p, --password <password>', 'new password'),
).action((name: string, o: { config?: string; set: string[]; password: string }) => {
  const cfg = configOrExit(o.config, o.set);
  const p = new PasswdFile(cfg.auth.passwdFile);
  if (!p.find(name)) {
    process.stderr.write(`no such user ${name}\n`);
    process.exit(1);
  }
  p.set(p.find(name)!, o.password);
  process.stdout.write(`password of ${name} changed\n`);
});
common(user.command('list').description('list users')).action((o: { config?: string; set: string[] }) => {
  const cfg = configOrExit(o.config, o.set);
  const p = new PasswdFile(cfg.auth.passwdFile);
  for (const u of p.list()) process.stdout.write(`${u}\n`);
});

/** A non-negative whole number for a CLI option (commander's argParser). */
function count(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('not a whole number');
  return Number(v);
}

common(
  user
    .command('quota <name>')
    .description("show a user's quota limits and usage, or set the user's own limits (0 = unlimited)")
    .option('--storage <bytes>', 'storage limit in bytes (RFC 9208 STORAGE)', count)
    .option('--messages <count>', 'message limit (RFC 9208 MESSAGE)', count)
    .option('--clear', "remove the user's own limits: the configured quota.* defaults apply"),
).action(
  async (name: string, o: { config?: string; set: string[]; storage?: number; messages?: number; clear?: boolean }) => {
    const cfg = configOrExit(o.config, o.set);
    const p = new PasswdFile(cfg.auth.passwdFile);
    if (!p.find(name)) {
      process.stderr.write(`no such user ${name}\n`);
      process.exit(1);
    }
    const { cluster, store } = await openStore(cfg, pino({ level: 'warn' }));
    try {
      const u = await store.user(p.find(name)!);
      if (o.clear) await u.setQuotaLimits(null);
      else if (o.storage !== undefined || o.messages !== undefined) {
        await u.setQuotaLimits({
          ...(o.storage !== undefined ? { storageBytes: o.storage } : {}),
          ...(o.messages !== undefined ? { messages: o.messages } : {}),
        });
      }
      const [q, use] = await Promise.all([u.quotaLimits(), u.usage()]);
      const lim = (n: number) => (n ? String(n) : 'unlimited');
      process.stdout.write(
        `${name}: storage ${use.storageBytes} of ${lim(q.storageBytes)} bytes, messages ` +
          `${use.messages} of ${lim(q.messages)}\n`,
      );
    } finally {
      await cluster.close();
    }
  },
);

addMigrateCommands(program, common, configOrExit);
addAdminCommands(program, common, configOrExit);
addMailCommands(program, common, configOrExit);
addFetchCommands(program, common, configOrExit);
addUserDelete(user, common, configOrExit);

program.parseAsync(process.argv).catch((e: Error) => {
  process.stderr.write(`rmb: ${e.message}\n`);
  process.exit(1);
});
