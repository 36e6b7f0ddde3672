/**
 * The admin commands of `rmb` that work on the store while servers run (issue 15): `rmb check` and
 * `rmb index rebuild`. Output as aligned text, or one JSON document with `--json`.
 */
import type { Command } from 'commander';
import { DEFECT_KINDS, checkUser, rebuildIndex, type CheckReport } from '@rmb/librmb';
import { type Base, type Common, type ConfigOrExit, withStore } from './cli-common.js';
import { kick, who } from './sessions.js';

/** A non-negative whole number of milliseconds for an option. */
function ms(v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`not a whole number of ms: ${v}`);
  return Number(v);
}

/** Add `rmb check` and `rmb index rebuild` to `program`. */
export function addAdminCommands(program: Command, common: Common, configOrExit: ConfigOrExit): void {
  common(
    program
      .command('check [user]')
      .description(
        "check a user's objects (orphan or missing mail, reference counts, counters, change-log gaps, " +
          'orphan index objects); --repair fixes them with guarded writes while servers run',
      )
      .option('--all', 'every user of the store')
      .option('--repair', 'fix what is found')
      .option('--grace-ms <ms>', 'objects younger than this are never orphans (a save in flight)', ms, 3_600_000)
      .option('--verbose', 'list every defect')
      .option('--json', 'one JSON document'),
  ).action(
    async (
      name: string | undefined,
      o: Base & { all?: boolean; repair?: boolean; graceMs: number; verbose?: boolean },
    ) => {
      if (!name === !o.all) {
        process.stderr.write('rmb check: name one user, or --all\n');
        process.exit(2);
      }
      const cfg = configOrExit(o.config, o.set);
      const reports = await withStore(cfg, async (store) => {
        const names = o.all ? await store.users() : [name!];
        const out: CheckReport[] = [];
        for (const n of names) {
          if (!(await store.userId(n))) throw new Error(`no mail store for user ${n}`);
          out.push(await checkUser(await store.user(n, false), { repair: o.repair, graceMs: o.graceMs }));
        }
        return out;
      });
      if (o.json) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
      else {
        const w = Math.max(4, ...reports.map((r) => r.user.length));
        process.stdout.write(`${'user'.padEnd(w)}  ${DEFECT_KINDS.map((k) => k.padStart(11)).join(' ')}  repaired\n`);
        for (const r of reports) {
          const fixed = r.defects.filter((d) => d.repaired).length;
          const cells = DEFECT_KINDS.map((k) => String(r.counts[k]).padStart(11)).join(' ');
          process.stdout.write(`${r.user.padEnd(w)}  ${cells}  ${o.repair ? fixed : '-'}\n`);
          if (o.verbose)
            for (const d of r.defects)
              process.stdout.write(`  ${d.kind} ${d.where}: ${d.detail}${d.repaired ? ' (repaired)' : ''}\n`);
          if (r.busy.length) process.stdout.write(`  changed while checked (run again): ${r.busy.join(', ')}\n`);
        }
      }
      const left = reports.flatMap((r) => r.defects.filter((d) => !d.repaired)).length;
      process.exitCode = left ? 1 : 0;
    },
  );

  common(
    program.command('who').description('IMAP sessions on every server process (doveadm who)').option('--json'),
  ).action(async (o: Base) => {
    const rows = await withStore(configOrExit(o.config, o.set), (store) => who(store.root));
    if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else
      for (const r of rows)
        process.stdout.write(`${r.user}\t${r.remote}\t${r.state}\t${new Date(r.since).toISOString()}\t${r.node}\n`);
  });
  common(
    program.command('kick <user>').description("end a user's IMAP sessions on every server process (doveadm kick)"),
  ).action(async (user: string, o: Base) => {
    const r = await withStore(configOrExit(o.config, o.set), (store) => kick(store.root, user));
    process.stdout.write(`${user}: ${r.before - r.left} session(s) ended, ${r.left} left\n`);
    process.exitCode = r.left ? 1 : 0;
  });

  const index = program.command('index').description('mailbox indexes');
  common(
    index
      .command('rebuild <user> <mailbox>')
      .description("rebuild a mailbox's index from its mail objects (same UIDVALIDITY, UIDs, flags, dates)")
      .option('--grace-ms <ms>', 'mail saved less than this ago and never indexed is left alone', ms, 3_600_000)
      .option('--json', 'one JSON document'),
  ).action(async (user: string, mailbox: string, o: Base & { graceMs: number }) => {
    const cfg = configOrExit(o.config, o.set);
    const r = await withStore(cfg, async (store) => {
      if (!(await store.userId(user))) throw new Error(`no mail store for user ${user}`);
      return rebuildIndex(await store.user(user, false), mailbox, o.graceMs);
    });
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else
      process.stdout.write(
        `${r.mailbox}: ${r.messages} messages (${r.recovered} recovered), UIDVALIDITY ${r.uidvalidity}, ` +
          `UIDNEXT ${r.uidnext}, HIGHESTMODSEQ ${r.highestModseq}; ${r.objects} mail objects read\n`,
      );
  });
}
