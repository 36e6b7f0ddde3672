#!/usr/bin/env node
// `npm run bench` (second part): migration throughput from one Dovecot source (scripts/dovecot-local.sh,
// sdbox, IMAP on 127.0.0.1) for two workloads: 1 user x 10,000 corpus mails, and 100 users x 1,000.
// Three tools copy the same mail, each into its own destination, in this one script on this one machine:
//   - `rmb migrate sync` into rmb's embedded store (the tool under test);
//   - `mbsync` (Debian isync) into a Maildir, one process per user;
//   - `doveadm backup -R ... imapc:` (dsync) into a second Dovecot (sdbox, mail_fsync=never), the
//     fastest anchor: Dovecot writing its own format.
// Every tool works on 4 users at once (BENCH_MIGRATE_CONCURRENCY). Writes the results to BENCHMARKS.md
// between the bench-migrate markers. Options (env): BENCH_MIGRATE_BIG (10000), BENCH_MIGRATE_USERS (100),
// BENCH_MIGRATE_PER_USER (1000), BENCH_MIGRATE_CONCURRENCY (4).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import nodemailer from 'nodemailer';
import { loadCorpus, pool } from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIG = Number(process.env.BENCH_MIGRATE_BIG ?? 10000);
const USERS = Number(process.env.BENCH_MIGRATE_USERS ?? 100);
const PER_USER = Number(process.env.BENCH_MIGRATE_PER_USER ?? 1000);
const CONC = Number(process.env.BENCH_MIGRATE_CONCURRENCY ?? 4);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');
const has = (p) => existsSync(p);
if (!has('/usr/bin/mbsync') || !(has('/usr/sbin/dovecot') || has('/usr/bin/dovecot'))) {
  console.error('bench-migrate: needs dovecot-imapd dovecot-lmtpd and isync (mbsync); skipped');
  process.exit(0);
}

const tmp = mkdtempSync('/tmp/rmb-bench-migrate-');
chmodSync(tmp, 0o755);
const many = Array.from({ length: USERS }, (_, i) => `u${String(i + 1).padStart(3, '0')}`);
const users = ['big', ...many];
const startDovecot = (dir) => {
  const out = execFileSync(dovecotScript, ['start', dir, ...users.map((u) => `${u}:pw`)], { encoding: 'utf8' });
  return {
    dir,
    imap: Number(/DOVECOT_IMAP_PORT=(\d+)/.exec(out)[1]),
    lmtp: Number(/DOVECOT_LMTP_PORT=(\d+)/.exec(out)[1]),
  };
};
const stops = [];
process.on('exit', () => stops.forEach((f) => f()));

/** Run a command; reject on a non-zero exit. */
function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`)),
    );
  });
}

// the source, filled over LMTP with the corpus (cycled); u001 is filled, then copied to the other users
const corpus = loadCorpus(root);
const src = startDovecot(join(tmp, 'source'));
stops.push(() => execFileSync(dovecotScript, ['stop', src.dir]));
async function fill(user, count) {
  const t = nodemailer.createTransport({
    lmtp: true,
    host: '127.0.0.1',
    port: src.lmtp,
    ignoreTLS: true,
    pool: true,
    maxConnections: 4,
    maxMessages: Infinity,
  });
  const jobs = Array.from(
    { length: count },
    (_, i) => () => t.sendMail({ envelope: { from: 'x@example.org', to: [user] }, raw: corpus[i % corpus.length] }),
  );
  await pool(jobs, 8);
  t.close();
}
console.error(`bench-migrate: filling the source (${BIG} + ${PER_USER} mails over LMTP)...`);
await fill('big', BIG);
await fill(many[0], PER_USER);
for (const u of many.slice(1)) execFileSync('cp', ['-a', join(src.dir, 'home', many[0]), join(src.dir, 'home', u)]);
const status = (u) =>
  execFileSync(
    'doveadm',
    ['-c', join(src.dir, 'dovecot.conf'), 'mailbox', 'status', '-u', u, 'messages vsize', 'INBOX'],
    { encoding: 'utf8' },
  );
const sizeOf = (list) =>
  list.reduce(
    (a, u) => {
      const m = /messages=(\d+) vsize=(\d+)/.exec(status(u));
      return { messages: a.messages + Number(m[1]), bytes: a.bytes + Number(m[2]) };
    },
    { messages: 0, bytes: 0 },
  );

/**
 * The source alone: log in, SELECT INBOX, `UID FETCH 1:* (BODY.PEEK[])`, the bytes read and
 * dropped. No IMAP-based tool can copy faster than the source serves this.
 */
function rawFetch(user) {
  return new Promise((resolve, reject) => {
    const sock = connect(src.imap, '127.0.0.1');
    let tail = '';
    let step = 0;
    const steps = ['a1 LOGIN ' + user + ' pw', 'a2 SELECT INBOX', 'a3 UID FETCH 1:* (BODY.PEEK[])', 'a4 LOGOUT'];
    sock.on('data', (d) => {
      const seen = tail + d.toString('latin1');
      tail = seen.slice(-200);
      const want = step === 0 ? /\* OK/ : new RegExp(`(^|\\r\\n)a${step} (OK|NO|BAD)`);
      if (!want.test(seen)) return;
      if (step > 0 && !new RegExp(`a${step} OK`).test(seen)) return reject(new Error(`${user}: ${tail}`));
      tail = '';
      if (step === steps.length) return;
      sock.write(steps[step++] + '\r\n');
    });
    sock.on('close', resolve);
    sock.on('error', reject);
  });
}

const workloads = [
  { name: `1 user x ${BIG}`, users: ['big'] },
  { name: `${USERS} users x ${PER_USER}`, users: many },
];
const results = [];
for (const w of workloads) {
  const total = sizeOf(w.users);
  const time = async (tool, fn) => {
    const t0 = process.hrtime.bigint();
    await fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    results.push({ workload: w.name, tool, seconds: s, ...total });
    console.error(`bench-migrate: ${w.name}: ${tool} ${s.toFixed(1)} s`);
  };
  await time('source alone: UID FETCH 1:* BODY.PEEK[], read and dropped', () =>
    pool(
      w.users.map((u) => () => rawFetch(u)),
      CONC,
    ),
  );
  // rmb migrate sync into the embedded store
  const data = join(tmp, `rmb-${results.length}`);
  mkdirSync(data);
  writeFileSync(
    join(data, 'users.csv'),
    'source_user,rmb_user,auth,secret\n' + w.users.map((u) => `${u},${u},password,env:SRC_PW`).join('\n') + '\n',
  );
  const sets = ['-s', `dataDir=${data}`, '-s', 'log.level=warn'];
  await run(process.execPath, [
    cli,
    'migrate',
    'users',
    'import',
    join(data, 'users.csv'),
    '--source',
    `imap://127.0.0.1:${src.imap}`,
    ...sets,
  ]);
  await time('rmb migrate sync (embedded store)', () =>
    run(process.execPath, [cli, 'migrate', 'sync', '--json', '--concurrency', String(CONC), ...sets], { SRC_PW: 'pw' }),
  );
  await run(process.execPath, [cli, 'migrate', 'verify', '--level', '1', ...sets], { SRC_PW: 'pw' });
  // mbsync into a Maildir, one process per user
  const md = join(tmp, `mbsync-${results.length}`);
  const rcs = w.users.map((u) => {
    const rc = join(md, `${u}.rc`);
    mkdirSync(join(md, u), { recursive: true });
    writeFileSync(
      rc,
      [
        `IMAPAccount a\nHost 127.0.0.1\nPort ${src.imap}\nUser ${u}\nPass pw\nSSLType None\n`,
        'IMAPStore r\nAccount a\n',
        `MaildirStore l\nPath ${md}/${u}/\nInbox ${md}/${u}/INBOX\nSubFolders Verbatim\n`,
        'Channel c\nFar :r:\nNear :l:\nPatterns *\nCreate Near\nSyncState *\nSync Pull\n',
      ].join('\n'),
    );
    return rc;
  });
  await time('mbsync into a Maildir', () =>
    pool(
      rcs.map((rc) => () => run('mbsync', ['-c', rc, '-a', '-q'])),
      CONC,
    ),
  );
  // dsync (doveadm backup) from the source over imapc into a second Dovecot
  const dst = startDovecot(join(tmp, `dsync-${results.length}`));
  stops.push(() => execFileSync(dovecotScript, ['stop', dst.dir]));
  appendFileSync(
    join(dst.dir, 'dovecot.conf'),
    `imapc_host = 127.0.0.1\nimapc_port = ${src.imap}\nimapc_user = %u\nimapc_password = pw\n` +
      'imapc_features = rfc822.size fetch-headers\nmail_fsync = never\n',
  );
  await time('doveadm backup (dsync) into Dovecot', () =>
    pool(
      w.users.map(
        (u) => () => run('doveadm', ['-c', join(dst.dir, 'dovecot.conf'), 'backup', '-R', '-u', u, 'imapc:']),
      ),
      CONC,
    ),
  );
  rmSync(md, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
}

const cpu = os.cpus();
const machine =
  `${cpu.length} × ${cpu[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
  `${os.type()} ${os.release()}, Node ${process.version}`;
const lines = [
  `Run: \`npm run bench\` (scripts/bench-migrate.mjs) on ${new Date().toISOString().slice(0, 10)}; ` +
    `machine: ${machine}.`,
  'Source: one Dovecot 2.3 (sdbox) on 127.0.0.1, filled over LMTP with the test corpus (cycled); ' +
    `every tool on ${CONC} users at once.`,
  'Ratios: rmb ÷ that tool, in messages/s (higher is better for rmb). Goal (issue 12): ≥ 3 × mbsync and ≥ dsync.',
  'The first row of each workload is no tool: the source serving every message once (the ceiling of any IMAP copy).',
  '',
  '| workload | tool | seconds | messages/s | MB/s | rmb ratio |',
  '|---|---|---|---|---|---|',
];
for (const w of workloads) {
  const rows = results.filter((r) => r.workload === w.name);
  const rmb = rows.find((r) => r.tool.startsWith('rmb'));
  for (const r of rows) {
    const rate = r.messages / r.seconds;
    lines.push(
      `| ${r.workload} | ${r.tool} | ${r.seconds.toFixed(1)} | ${rate.toFixed(0)} | ` +
        `${(r.bytes / 1e6 / r.seconds).toFixed(1)} | ${(r.seconds / rmb.seconds).toFixed(2)} |`,
    );
  }
}
const file = join(root, 'BENCHMARKS.md');
const old = readFileSync(file, 'utf8');
const block = `<!-- bench-migrate:start -->\n${lines.join('\n')}\n<!-- bench-migrate:end -->`;
const next = /<!-- bench-migrate:start -->[\s\S]*<!-- bench-migrate:end -->/.test(old)
  ? old.replace(/<!-- bench-migrate:start -->[\s\S]*<!-- bench-migrate:end -->/, block)
  : `${old.trimEnd()}\n\n## Migration\n\n${block}\n`;
writeFileSync(file, next);
console.log(lines.join('\n'));
rmSync(tmp, { recursive: true, force: true });
