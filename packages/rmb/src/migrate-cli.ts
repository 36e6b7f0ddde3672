/**
 * `rmb migrate ...`: the migration command line over @rmb/migrate. Exit codes as doveadm's
 * (sysexits): 0 clean, 2 the source changed during the run (run again), 65 verification found
 * differences, 75 temporary failure, 77 authentication, 78 configuration.
 */
import { createWriteStream, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import {
  MigrateConfigError,
  MigrationState,
  Runner,
  collect,
  summarize,
  formatReport,
  parseSourceUri,
  readUsersFile,
  type RunEvent,
  type RunOptions,
  type RunResult,
} from '@rmb/migrate';
import type { Config } from './config.js';
import { openStore } from './serve.js';

type Common = { config?: string; set: string[] };
type ConfigOrExit = (file: string | undefined, sets: string[]) => Config;

/** A whole number for an option. */
function whole(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError('not a whole number');
  return Number(v);
}
const list = (v: string) => v.split(',').filter(Boolean);

/** Open the store and the migration state; `fn` runs with them; the cluster is closed after. */
async function withState<T>(cfg: Config, fn: (r: Runner, s: MigrationState) => Promise<T>): Promise<T> {
  const { cluster, store } = await openStore(cfg, pino({ level: 'warn' }));
  try {
    const io = await cluster.ioCtx(cfg.store.pool, `${cfg.store.namespace}migrate`);
    const state = new MigrationState(io);
    return await fn(new Runner(store, state), state);
  } finally {
    await cluster.close();
  }
}

/** Exit with `code` after printing a config error's lines. */
function fail(e: unknown): never {
  if (e instanceof MigrateConfigError) {
    process.stderr.write(`rmb migrate: ${e.message}\n`);
    for (const r of e.rows) process.stderr.write(`  line ${r.line}: ${r.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`rmb migrate: ${(e as Error).message}\n`);
  process.exit(75);
}

const mb = (b: number) => b / 1e6;

/**
 * The progress display: one bar overall and one per user at work, with messages/s, MB/s and ETA
 * (cli-progress), on a terminal; a line per finished user otherwise; NDJSON with `--json`. Every
 * event also goes to the user's own log file (pino) under `logDir`.
 */
class Display {
  private readonly multi?: cliProgress.MultiBar;
  private readonly total?: cliProgress.SingleBar;
  private readonly bars = new Map<string, { bar: cliProgress.SingleBar; start: number }>();
  private readonly logs = new Map<string, pino.Logger>();
  private readonly files: WriteStream[] = [];
  private readonly start = Date.now();
  private readonly done = new Map<string, { copied: number; bytes: number; planned: number }>();

  constructor(
    private readonly json: boolean,
    private readonly logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true });
    if (!json && process.stdout.isTTY) {
      this.multi = new cliProgress.MultiBar(
        {
          format: '{name} [{bar}] {value}/{total} msgs | {rate} msg/s | {mbs} MB/s | ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.total = this.multi.create(0, 0, { name: 'all'.padEnd(16), rate: '0', mbs: '0.0' });
    }
  }

  private log(user: string): pino.Logger {
    let l = this.logs.get(user);
    if (!l) {
      const f = createWriteStream(join(this.logDir, `${user.replace(/[/\\]/g, '_')}.log`), { flags: 'a' });
      this.files.push(f);
      l = pino({ base: { user } }, f);
      this.logs.set(user, l);
    }
    return l;
  }

  event(e: RunEvent): void {
    this.log(e.user).info(e, e.type);
    if (this.json) {
      process.stdout.write(JSON.stringify({ at: new Date().toISOString(), ...e }) + '\n');
      return;
    }
    if (e.type === 'progress') {
      this.done.set(e.user, { copied: e.copied, bytes: e.copiedBytes, planned: e.planned });
      const secs = Math.max(0.001, (Date.now() - (this.bars.get(e.user)?.start ?? this.start)) / 1000);
      const b = this.bars.get(e.user);
      b?.bar.setTotal(Math.max(e.planned, e.copied));
      b?.bar.update(e.copied, { rate: (e.copied / secs).toFixed(0), mbs: mb(e.copiedBytes / secs).toFixed(1) });
      this.updateTotal();
      return;
    }
    if (e.type === 'user-start' && this.multi) {
      this.bars.set(e.user, {
        bar: this.multi.create(0, 0, { name: e.user.slice(0, 16).padEnd(16), rate: '0', mbs: '0.0' }),
        start: Date.now(),
      });
      return;
    }
    if (e.type === 'user-done' || e.type === 'user-failed') {
      const b = this.bars.get(e.user);
      if (b) {
        b.bar.stop();
        this.multi?.remove(b.bar);
        this.bars.delete(e.user);
      }
      const line =
        e.type === 'user-done'
          ? `${e.user}: ${e.action} ${e.status}${e.exitCode ? ` (exit ${e.exitCode})` : ''}`
          : `${e.user}: ${e.action} ${e.status}: ${e.error}`;
      if (this.multi) this.multi.log(line + '\n');
      else process.stdout.write(line + '\n');
    }
  }

  private updateTotal(): void {
    if (!this.total) return;
    let copied = 0,
      bytes = 0,
      planned = 0;
    for (const d of this.done.values()) {
      copied += d.copied;
      bytes += d.bytes;
      planned += d.planned;
    }
    const secs = Math.max(0.001, (Date.now() - this.start) / 1000);
    this.total.setTotal(planned);
    this.total.update(copied, { rate: (copied / secs).toFixed(0), mbs: mb(bytes / secs).toFixed(1) });
  }

  async close(): Promise<void> {
    this.multi?.stop();
    await Promise.all(this.files.map((f) => new Promise((r) => f.end(r))));
  }
}

/**
 * The process's peak private memory (RssAnon of /proc/self/status, sampled every 100 ms): heap,
 * buffers and stacks, without the store file's pages the embedded backend maps (page cache the
 * kernel may drop, which getrusage's maxrss counts too). Elsewhere than Linux, the RSS.
 */
let peakAnonBytes = 0;
function sampleMemory(): void {
  let anon = process.memoryUsage().rss;
  try {
    const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) anon = Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  peakAnonBytes = Math.max(peakAnonBytes, anon);
}
setInterval(sampleMemory, 100).unref();

/** Print a run's summary and exit with its code. */
function finish(r: RunResult, json: boolean, what: string): never {
  if (json) {
    // the last NDJSON line: the run's outcome and this process's peak memory (getrusage maxrss,
    // and the private part alone, see sampleMemory)
    sampleMemory();
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(
      JSON.stringify({ type: 'run-done', action: what, exitCode: r.exitCode, maxRssBytes, peakAnonBytes }) + '\n',
    );
  } else {
    const by: Record<string, number> = {};
    for (const u of r.users) by[u.status] = (by[u.status] ?? 0) + 1;
    process.stdout.write(
      `${what}: ${r.users.length} user(s): ${Object.entries(by)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}; exit ${r.exitCode}\n`,
    );
  }
  process.exit(r.exitCode);
}

type RunFlags = Common & {
  users?: string[];
  wave?: string;
  concurrency?: number;
  connectionsPerHost?: number;
  maxMsgsPerSec?: number;
  maxBytesPerSec?: number;
  dryRun?: boolean;
  json?: boolean;
  source?: string;
  masterForm?: 'sasl' | 'star';
  level?: string;
};

function runOptions(cfg: Config, o: RunFlags, display: Display): RunOptions {
  if (o.source) parseSourceUri(o.source);
  if (o.masterForm && !['sasl', 'star'].includes(o.masterForm)) {
    throw new MigrateConfigError('--master-form must be sasl or star');
  }
  return {
    users: o.users,
    wave: o.wave,
    concurrency: o.concurrency ?? cfg.migrate.concurrency,
    connectionsPerHost: o.connectionsPerHost ?? cfg.migrate.connectionsPerHost,
    maxMsgsPerSec: o.maxMsgsPerSec,
    maxBytesPerSec: o.maxBytesPerSec,
    dryRun: o.dryRun,
    source: o.source,
    masterForm: o.masterForm,
    leaseMs: cfg.migrate.leaseMs,
    sync: {
      chunkMessages: cfg.migrate.chunkMessages,
      chunkBytes: cfg.migrate.chunkBytes,
      prefetchChunks: cfg.migrate.prefetchChunks,
      largeMessageBytes: cfg.migrate.largeMessageBytes,
      altChar: cfg.migrate.altChar,
    },
    onEvent: (e) => display.event(e),
  };
}

/** Add `rmb migrate ...` to the program. */
export function addMigrateCommands(
  program: Command,
  common: (c: Command) => Command,
  configOrExit: ConfigOrExit,
): void {
  const m = program.command('migrate').description('move users from an IMAP server or a Maildir tree into rmb');
  const users = m.command('users').description('the users of the migration');
  common(
    users
      .command('import <file>')
      .description('import users from CSV (header row) or JSONL: source_user, rmb_user, auth, secret, ...')
      .option('--source <uri>', 'default source: imap://host[:port], imaps://..., maildir:/path/%u[:LAYOUT=fs]'),
  ).action(async (file: string, o: Common & { source?: string }) => {
    const cfg = configOrExit(o.config, o.set);
    try {
      if (o.source) parseSourceUri(o.source);
      const rows = readUsersFile(file);
      const r = await withState(cfg, (_r, s) => s.importUsers(rows, o.source));
      process.stdout.write(`imported ${rows.length} user(s): ${r.added} new, ${r.updated} updated\n`);
    } catch (e) {
      fail(e);
    }
  });

  const runCmd = (c: Command) =>
    common(c)
      .option('--users <list>', 'only these rmb users (comma-separated)', list)
      .option('--wave <wave>', 'only the users of this wave')
      .option('--source <uri>', "the source of users whose row names none (default: the import's)")
      .option('--master-form <form>', 'master user login on IMAP: sasl (authzid) or star (user*master)')
      .option('--concurrency <n>', 'users at once', whole)
      .option('--connections-per-host <n>', 'connections to one source host at once', whole)
      .option('--json', 'NDJSON events on stdout instead of a progress display');

  const run = async (o: RunFlags, what: string, fn: (r: Runner, opts: RunOptions) => Promise<RunResult>) => {
    const cfg = configOrExit(o.config, o.set);
    const display = new Display(!!o.json, cfg.migrate.logDir ?? join(cfg.dataDir, 'migrate-logs'));
    let result: RunResult;
    try {
      result = await withState(cfg, (r) => fn(r, runOptions(cfg, o, display)));
    } catch (e) {
      await display.close();
      fail(e);
    }
    await display.close();
    finish(result, !!o.json, what);
  };

  runCmd(m.command('plan').description('discover each user: folders, STATUS, the folder map, totals, warnings')).action(
    (o: RunFlags) =>
      run(o, 'plan', async (r, opts) => {
        const res = await r.plan(opts);
        if (!o.json) {
          for (const u of res.users)
            process.stdout.write(JSON.stringify({ user: u.user, ...(u.detail as object) }) + '\n');
        }
        return res;
      }),
  );
  runCmd(m.command('sync').description('copy everything the first time, then only what changed'))
    .option('--max-msgs-per-sec <n>', 'throttle: messages fetched per second over all users', whole)
    .option('--max-bytes-per-sec <n>', 'throttle: bytes fetched per second over all users', whole)
    .option('--dry-run', 'count what would be copied; write nothing')
    .action((o: RunFlags) => run(o, 'sync', (r, opts) => r.sync(opts)));
  runCmd(m.command('cutover').description('freeze, final sync, verify, route to rmb (back to the source on failure)'))
    .option('--max-passes <n>', 'final delta passes at most', whole, 5)
    .option('--max-final-sync <seconds>', 'most time for the final passes together', whole, 300)
    .option('--drain-ms <ms>', "time for the user's open sessions on every node to end after the freeze", whole, 1500)
    .option(
      '--level <n>',
      'verification before the flip: 0, 1, 2, or incremental (1 + 2 of what was copied since the last level 2)',
      'incremental',
    )
    .action((o: RunFlags & { maxPasses: number; maxFinalSync: number; drainMs: number }) => {
      const level = o.level ?? 'incremental';
      if (!['0', '1', '2', 'incremental'].includes(level))
        fail(new MigrateConfigError('--level must be 0, 1, 2 or incremental'));
      return run(o, 'cutover', (r, opts) =>
        r.cutover({
          ...opts,
          level: level === 'incremental' ? 'incremental' : (Number(level) as 0 | 1 | 2),
          maxPasses: o.maxPasses,
          maxFinalSyncMs: o.maxFinalSync * 1000,
          drainMs: o.drainMs,
        }),
      );
    });
  runCmd(
    m.command('post-sync').description('after the cut-over: copy in mail that still reached the old server (additive)'),
  ).action((o: RunFlags) => run(o, 'post-sync', (r, opts) => r.postSync(opts)));
  runCmd(
    m
      .command('rollback [users...]')
      .description('route cut-over users back to the source, copying back what changed in rmb since the cut-over'),
  )
    .option('--drain-ms <ms>', "time for the user's open sessions on every node to end after the freeze", whole, 1500)
    .action((users: string[], o: RunFlags & { drainMs: number }) => {
      if (users.length) o.users = [...(o.users ?? []), ...users];
      if (!o.users?.length && !o.wave) fail(new MigrateConfigError('rollback: name the users (or --users, --wave)'));
      return run(o, 'rollback', (r, opts) => r.rollback({ ...opts, drainMs: o.drainMs }));
    });
  runCmd(m.command('verify').description('compare rmb with the source'))
    .option('--level <n>', '0: per folder counts; 1: per message; 2: SHA-256 of the bytes', '1')
    .action((o: RunFlags) => {
      if (!['0', '1', '2'].includes(o.level ?? '1')) fail(new MigrateConfigError('--level must be 0, 1 or 2'));
      return run(o, 'verify', async (r, opts) => {
        const res = await r.verify({ ...opts, level: Number(o.level ?? 1) as 0 | 1 | 2 });
        if (!o.json) {
          for (const u of res.users) {
            const d = u.detail as { details?: string[]; source?: unknown; rmb?: unknown } | undefined;
            if (!d?.details) continue;
            process.stdout.write(`${u.user}: source ${JSON.stringify(d.source)}; rmb ${JSON.stringify(d.rmb)}\n`);
            for (const l of d.details) process.stdout.write(`  ${l}\n`);
          }
        }
        return res;
      });
    });
  const route = m.command('route').description("where a user lives: 'source' (old server), 'frozen' or 'local'");
  common(
    route
      .command('set <user> <state>')
      .description("set a user's route (user @default: the route of users without one)")
      .option('--imap <uri>', 'the old IMAP server (imap://host:port, imaps://...)')
      .option('--delivery <uri>', "where the old server takes the user's mail (lmtp://host:port, smtp://host:port)")
      .option('--source-user <name>', "the user's login name at the old server, when it differs")
      .option('--reason <text>', 'recorded in the route history', 'set by an operator'),
  ).action(
    async (
      user: string,
      state: string,
      o: Common & { imap?: string; delivery?: string; sourceUser?: string; reason: string },
    ) => {
      const cfg = configOrExit(o.config, o.set);
      try {
        if (!['source', 'frozen', 'local'].includes(state))
          throw new MigrateConfigError('state must be source, frozen or local');
        if (o.imap) parseSourceUri(o.imap);
        if (o.delivery && !/^(lmtp|smtp):\/\/[^/:]+(:\d+)?\/?$/.test(o.delivery)) {
          throw new MigrateConfigError('--delivery must be lmtp://host:port or smtp://host:port');
        }
        if (state === 'source' && !o.imap) throw new MigrateConfigError('a source route needs --imap');
        if (o.sourceUser && user === '@default') throw new MigrateConfigError('--source-user names one user');
        const source = o.imap
          ? {
              imap: o.imap,
              ...(o.delivery ? { delivery: o.delivery } : {}),
              ...(o.sourceUser ? { user: o.sourceUser } : {}),
            }
          : undefined;
        const r = await withState(cfg, (runner) =>
          runner.store.routes.set(
            user === '@default' ? null : user,
            {
              state: state as 'source' | 'frozen' | 'local',
              ...(source ? { source } : {}),
            },
            o.reason,
          ),
        );
        process.stdout.write(JSON.stringify({ user, ...r }) + '\n');
      } catch (e) {
        fail(e);
      }
    },
  );
  common(route.command('show <user>').description("a user's route and its history")).action(
    async (user: string, o: Common) => {
      const cfg = configOrExit(o.config, o.set);
      try {
        const out = await withState(cfg, async (runner) => ({
          user,
          route: await runner.store.routes.get(user === '@default' ? '\u0000none' : user),
          history: await runner.store.routes.history(user === '@default' ? null : user),
        }));
        process.stdout.write(JSON.stringify(out) + '\n');
      } catch (e) {
        fail(e);
      }
    },
  );

  common(m.command('status').description('users by status, and each user').option('--json', 'as JSON')).action(
    async (o: Common & { json?: boolean }) => {
      const cfg = configOrExit(o.config, o.set);
      try {
        const rows = await withState(cfg, (_r, s) => collect(s));
        const sum = summarize(rows);
        if (o.json) process.stdout.write(JSON.stringify({ ...sum, users: rows }) + '\n');
        else {
          process.stdout.write(`${rows.length} user(s): ${JSON.stringify(sum.byStatus)}\n`);
          for (const [w, by] of Object.entries(sum.byWave))
            process.stdout.write(`wave ${w || '(none)'}: ${JSON.stringify(by)}\n`);
          const f = sum.frozen;
          if (f.count) {
            process.stdout.write(
              `frozen: ${f.count} cut over, p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms\n`,
            );
          }
          const eta = sum.etaSeconds === null ? 'unknown' : `${sum.etaSeconds} s`;
          process.stdout.write(`cut-overs to do: ${sum.remaining}, ETA ${eta}\n`);
          for (const r of rows) {
            const s = r.state;
            const err = s.lastError ? `\t${s.lastError}` : '';
            process.stdout.write(`${r.user}\t${s.status}\tdeltas ${s.deltas}\tattempts ${s.attempts}${err}\n`);
          }
        }
      } catch (e) {
        fail(e);
      }
    },
  );
  common(
    m
      .command('report')
      .description('the migration report')
      .option('--format <f>', 'md, json or csv', 'md')
      .option('--out <file>', 'write to a file instead of stdout'),
  ).action(async (o: Common & { format: string; out?: string }) => {
    const cfg = configOrExit(o.config, o.set);
    if (!['md', 'json', 'csv'].includes(o.format)) fail(new MigrateConfigError('--format must be md, json or csv'));
    try {
      const text = formatReport(await withState(cfg, (_r, s) => collect(s)), o.format as 'md' | 'json' | 'csv');
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
    } catch (e) {
      fail(e);
    }
  });
}
