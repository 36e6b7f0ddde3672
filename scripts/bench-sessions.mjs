#!/usr/bin/env node
// `npm run bench` (issue 14, item 7): many sessions at once. One user's INBOX filled over LMTP by
// Postfix's smtp-source (BENCH_SESSIONS_MESSAGES, 1000 mails of 5 KB); then
//   - BENCH_SESSIONS_N (600) sessions logged in with INBOX selected, each fetching
//     BENCH_SESSIONS_FETCHES (20) random messages (`FETCH n (BODY.PEEK[])`) one after another,
//     all sessions at once: first-byte latency (command sent -> the `* n FETCH` line) and
//     whole-response latency, p50 / p99 / max;
//   - the memory of those sessions: proportional set size (PSS, shared pages split between the
//     processes sharing them) of the server's processes, before and after, per session;
//   - rmb alone: BENCH_SESSIONS_IDLE (10,000) idle sessions with INBOX selected, PSS per session
//     (Dovecot runs one process per session; its `service imap` allows 1,024).
// rmb (embedded store) next to Dovecot 2.3 (scripts/dovecot-local.sh, sdbox) in this one script.
// Writes BENCHMARKS.md between the bench-sessions markers.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Imap,
  pool,
  runLine,
  smtpSourceOrSkip,
  startDovecot,
  startRmb,
  stopDovecot,
  writeSection,
} from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MESSAGES = Number(process.env.BENCH_SESSIONS_MESSAGES ?? 1000);
const N = Number(process.env.BENCH_SESSIONS_N ?? 600);
const FETCHES = Number(process.env.BENCH_SESSIONS_FETCHES ?? 20);
const IDLE = Number(process.env.BENCH_SESSIONS_IDLE ?? 10000);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');
const SMTP_SOURCE = smtpSourceOrSkip('bench-sessions.mjs');

/** PSS of `pids` in KiB (/proc/<pid>/smaps_rollup). */
function pssKiB(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return sum;
}

const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];

/** `n` sessions of `user` with INBOX selected, opened 50 at a time. */
async function sessions(port, user, pass, n) {
  const out = [];
  await pool(
    Array.from({ length: n }, () => async () => {
      const c = await Imap.open(port);
      await c.until(/\* OK[^\r]*\r\n/);
      await c.run(`LOGIN ${user} ${pass}`, 'SELECT INBOX');
      out.push(c);
    }),
    50,
  );
  return out;
}

/** Every session fetches FETCHES random messages one after another, all sessions at once. */
async function fetchLoad(open) {
  const first = [];
  const whole = [];
  await Promise.all(
    open.map(async (c) => {
      for (let i = 0; i < FETCHES; i++) {
        const n = 1 + Math.floor(Math.random() * MESSAGES);
        const tag = `f${++c.n}`;
        const t0 = process.hrtime.bigint();
        c.sock.write(`${tag} FETCH ${n} (BODY.PEEK[])\r\n`);
        await c.until(new RegExp(`\\* ${n} FETCH `));
        first.push(Number(process.hrtime.bigint() - t0) / 1e6);
        await c.until(new RegExp(`${tag} OK[^\\r]*\\r\\n`));
        whole.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  first.sort((a, b) => a - b);
  whole.sort((a, b) => a - b);
  return { first, whole };
}

async function measure(name, imap, lmtp, pids) {
  console.error(`bench-sessions: ${name}: filling ${MESSAGES} mails...`);
  const args = ['-L', '-d', '-s', '8', '-m', String(MESSAGES), '-l', '5000', '-f', 'bench@example.com'];
  execFileSync(SMTP_SOURCE, [...args, '-t', 'sess@localhost', `127.0.0.1:${lmtp}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.error(`bench-sessions: ${name}: ${N} sessions fetching...`);
  const before = pssKiB(pids());
  const open = await sessions(imap, 'sess', 'pw', N);
  await new Promise((r) => setTimeout(r, 1000));
  const mem = (pssKiB(pids()) - before) / N;
  const { first, whole } = await fetchLoad(open);
  for (const c of open) c.sock.destroy();
  return {
    first: [pct(first, 50), pct(first, 99), first[first.length - 1]],
    whole: [pct(whole, 50), pct(whole, 99), whole[whole.length - 1]],
    mem,
    fetches: first.length,
  };
}

const tmp = mkdtempSync('/tmp/rmb-bench-sessions-');
chmodSync(tmp, 0o755);
const rows = [];
let dovecot = null;
try {
  const { imap, lmtp } = await startDovecot(dovecotScript, join(tmp, 'dovecot'), ['sess:pw']);
  // every imap process of this Dovecot (one per session)
  const pids = () => {
    try {
      return execFileSync('pgrep', ['-f', '^dovecot/imap'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    } catch {
      return [];
    }
  };
  dovecot = await measure('Dovecot', imap, lmtp, pids);
  rows.push({ name: 'Dovecot 2.3 (sdbox)', ...dovecot });
} catch (e) {
  console.error(`bench-sessions: Dovecot not measured: ${e.message.split('\n')[0]}`);
} finally {
  await stopDovecot(dovecotScript, join(tmp, 'dovecot'));
}

const data = join(tmp, 'rmb');
execFileSync(process.execPath, [cli, 'user', 'add', 'sess', '-p', 'pw', '-s', `dataDir=${data}`]);
const { server, imap, lmtp } = await startRmb(cli, data, [
  'lmtp.port=0',
  `imap.maxConnections=${IDLE + 100}`,
  `imap.maxConnectionsPerAddress=${IDLE + 100}`,
]);
const rmb = await measure('rmb', imap, lmtp, () => [server.pid]);
rows.push({ name: 'rmb, embedded store', ...rmb });
console.error(`bench-sessions: rmb: ${IDLE} idle sessions...`);
const before = pssKiB([server.pid]);
const idle = await sessions(imap, 'sess', 'pw', IDLE);
await new Promise((r) => setTimeout(r, 2000));
const idleMem = (pssKiB([server.pid]) - before) / IDLE;
for (const c of idle) c.sock.destroy();
server.kill('SIGTERM');

const f = (x) => x.toFixed(2);
const lines = [
  runLine('bench-sessions.mjs'),
  `One user's INBOX of ${MESSAGES} mails of 5 KB (smtp-source over LMTP); ${N} sessions with it selected, each ` +
    `fetching ${FETCHES} random messages (\`FETCH n (BODY.PEEK[])\`) one after another, all sessions at once. ` +
    'First byte: command sent to the `* n FETCH` line. Memory: proportional set size (PSS) of the server processes ' +
    'per session, idle with INBOX selected.',
  '',
  '| server | first byte p50 ms | p99 ms | max ms | whole response p50 ms | p99 ms | memory per session, KiB |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${f(r.first[0])} | ${f(r.first[1])} | ${f(r.first[2])} | ${f(r.whole[0])} | ${f(r.whole[1])} | ` +
      `${r.mem.toFixed(1)} |`,
  ),
];
if (dovecot) {
  lines.push(
    '',
    `rmb ÷ Dovecot (lower is better for rmb): first byte p99 ${(rmb.first[1] / dovecot.first[1]).toFixed(2)} ×, ` +
      `memory per session ${(rmb.mem / dovecot.mem).toFixed(3)} ×.`,
  );
}
lines.push(
  '',
  `rmb with ${IDLE.toLocaleString('en')} idle sessions (INBOX selected): ${idleMem.toFixed(1)} KiB per session ` +
    '(PSS). Dovecot runs one process per session and its `service imap` allows 1,024; its figure above is per ' +
    'process.',
);
writeSection(root, 'bench-sessions', 'Many sessions', lines);
rmSync(tmp, { recursive: true, force: true });
