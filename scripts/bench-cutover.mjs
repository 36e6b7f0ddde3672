#!/usr/bin/env node
// `npm run bench` (third part, issue 13 C6): a wave of users cut over from a Dovecot source while
// mail keeps arriving. One Dovecot (scripts/dovecot-local.sh, sdbox) holds BENCH_CUTOVER_USERS (50)
// users of BENCH_CUTOVER_MAILS (1,000) corpus mails each; rmb serves in front of it (embedded
// store), every user routed `source`. After `rmb migrate sync`, a sender delivers through rmb's
// LMTP at BENCH_CUTOVER_RATE (50) mails/s to random users of the wave, retrying every 4xx, while
// `rmb migrate cutover --wave c6 --concurrency BENCH_CUTOVER_IN_FLIGHT (5)` runs. Reported: the
// cut-over's total time, each user's frozen time (p50, p99, max) from `rmb migrate status`, the
// deliveries and their retries; and a consistency check: each user's INBOX in rmb holds exactly
// its corpus mails plus every mail answered 250, none twice. Writes BENCHMARKS.md between the
// bench-cutover markers.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { loadCorpus, pool } from './bench-lib.mjs';
import { ImapFlow } from 'imapflow';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const USERS = Number(process.env.BENCH_CUTOVER_USERS ?? 50);
const MAILS = Number(process.env.BENCH_CUTOVER_MAILS ?? 1000);
const RATE = Number(process.env.BENCH_CUTOVER_RATE ?? 50);
const IN_FLIGHT = Number(process.env.BENCH_CUTOVER_IN_FLIGHT ?? 5);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');
try {
  execFileSync('sh', ['-c', 'command -v dovecot']);
} catch {
  console.error('bench-cutover: needs dovecot-imapd dovecot-lmtpd; skipped');
  process.exit(0);
}

const tmp = mkdtempSync('/tmp/rmb-bench-cutover-');
chmodSync(tmp, 0o755);
const users = Array.from({ length: USERS }, (_, i) => `c${String(i + 1).padStart(3, '0')}`);
const out = execFileSync(dovecotScript, ['start', join(tmp, 'source'), ...users.map((u) => `${u}:pw`)], {
  encoding: 'utf8',
});
const imapPort = Number(/DOVECOT_IMAP_PORT=(\d+)/.exec(out)[1]);
const lmtpPort = Number(/DOVECOT_LMTP_PORT=(\d+)/.exec(out)[1]);
const cleanups = [() => execFileSync(dovecotScript, ['stop', join(tmp, 'source')])];
process.on('exit', () => cleanups.reverse().forEach((f) => f()));

const corpus = loadCorpus(root);

console.error(`bench-cutover: filling the source (${USERS} users x ${MAILS} mails)...`);
const filler = nodemailer.createTransport({
  lmtp: true,
  host: '127.0.0.1',
  port: lmtpPort,
  ignoreTLS: true,
  pool: true,
  maxConnections: 4,
  maxMessages: Infinity,
});
await pool(
  Array.from(
    { length: MAILS },
    (_, i) => () =>
      filler.sendMail({ envelope: { from: 'x@example.org', to: [users[0]] }, raw: corpus[i % corpus.length] }),
  ),
  8,
);
filler.close();
for (const u of users.slice(1))
  execFileSync('cp', ['-a', join(tmp, 'source', 'home', users[0]), join(tmp, 'source', 'home', u)]);

// rmb in front of it
const data = join(tmp, 'rmb');
mkdirSync(data);
const sets = ['-s', `dataDir=${data}`, '-s', 'log.level=warn'];
const rmbCli = (args, env = {}) =>
  new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, ...args, ...sets], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SRC_PW: 'pw', ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`rmb ${args.join(' ')}: exit ${code}: ${stderr}`)),
    );
  });
writeFileSync(
  join(data, 'users.csv'),
  'source_user,rmb_user,auth,secret,wave\n' + users.map((u) => `${u},${u},password,env:SRC_PW,c6`).join('\n') + '\n',
);
await rmbCli(['migrate', 'users', 'import', join(data, 'users.csv'), '--source', `imap://127.0.0.1:${imapPort}`]);
for (const u of users) {
  await rmbCli([
    'migrate',
    'route',
    'set',
    u,
    'source',
    '--imap',
    `imap://127.0.0.1:${imapPort}`,
    '--delivery',
    `lmtp://127.0.0.1:${lmtpPort}`,
  ]);
}
// the passwd file: every user of the wave (rmb checks passwords itself once the users are local)
const { PasswdFile } = await import(join(root, 'packages', 'rmb', 'dist', 'src', 'passwd.js'));
const pw = new PasswdFile(join(data, 'passwd'));
for (const u of users) pw.set(u, 'pw');
const server = spawn(
  process.execPath,
  [cli, 'serve', ...sets, '-s', 'imap.port=0', '-s', 'imap.tlsPort=0', '-s', 'lmtp.port=0'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
cleanups.push(() => server.kill('SIGKILL'));
const ports = await new Promise((resolve, reject) => {
  let text = '';
  server.stdout.on('data', (d) => {
    text += d;
    const m = /READY imap=(\d+) imaps=(\d*) lmtp=(\d*)/.exec(text);
    if (m) resolve({ imap: Number(m[1]), lmtp: Number(m[3]) });
  });
  server.on('exit', (code) => reject(new Error(`rmb serve exited ${code}`)));
});

console.error('bench-cutover: first sync...');
const t0 = Date.now();
await rmbCli(['migrate', 'sync', '--wave', 'c6', '--json', '--concurrency', '4']);
const syncSeconds = (Date.now() - t0) / 1000;

// the sender: RATE mails/s through rmb's LMTP, each retried every 200 ms while answered 4xx
const acked = new Map(users.map((u) => [u, 0]));
let retries = 0;
let refused = 0;
let sending = true;
const inFlight = [];
const mail = (n) =>
  Buffer.from(`From: s@example.org\r\nSubject: load ${n}\r\nMessage-ID: <load-${n}@bench>\r\n\r\nload ${n}\r\n`);
async function deliver(user, raw) {
  const t = nodemailer.createTransport({ lmtp: true, host: '127.0.0.1', port: ports.lmtp, ignoreTLS: true });
  try {
    const info = await t.sendMail({ envelope: { from: 's@example.org', to: [`${user}@example.org`] }, raw });
    return info.rejectedErrors?.[0]?.responseCode ?? 250;
  } catch (e) {
    return e.responseCode ?? 0;
  } finally {
    t.close();
  }
}
async function sendOne(n) {
  const user = users[n % users.length];
  for (;;) {
    const code = await deliver(user, mail(n));
    if (code === 250) return void acked.set(user, acked.get(user) + 1);
    if (code >= 500) return void refused++;
    retries++;
    await new Promise((r) => setTimeout(r, 200));
  }
}
let n = 0;
const sender = (async () => {
  while (sending) {
    inFlight.push(sendOne(n++));
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
})();

console.error(`bench-cutover: cutting over ${USERS} users, ${IN_FLIGHT} in flight, ${RATE} mails/s arriving...`);
const t1 = Date.now();
await rmbCli(['migrate', 'cutover', '--wave', 'c6', '--concurrency', String(IN_FLIGHT), '--json']);
const cutSeconds = (Date.now() - t1) / 1000;
sending = false;
await sender;
await Promise.all(inFlight);
const status = JSON.parse(await rmbCli(['migrate', 'status', '--json']));

// consistency: every user's INBOX in rmb = its corpus mails + every mail answered 250, none twice
let inconsistent = 0;
for (const u of users) {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: ports.imap,
    secure: false,
    doSTARTTLS: false,
    auth: { user: u, pass: 'pw' },
    logger: false,
  });
  await c.connect();
  await c.mailboxOpen('INBOX');
  const ids = [];
  for await (const m of c.fetch('1:*', { envelope: true })) ids.push(m.envelope?.messageId ?? '');
  await c.logout();
  const load = ids.filter((i) => i.includes('@bench>'));
  if (ids.length !== MAILS + acked.get(u) || new Set(load).size !== load.length) {
    inconsistent++;
    console.error(`bench-cutover: ${u}: ${ids.length} mails, expected ${MAILS} + ${acked.get(u)}`);
  }
}
server.kill('SIGTERM');

const delivered = [...acked.values()].reduce((a, b) => a + b, 0);
const f = status.frozen;
const cpu = os.cpus();
const lines = [
  `Run: \`npm run bench\` (scripts/bench-cutover.mjs) on ${new Date().toISOString().slice(0, 10)}; machine: ` +
    `${cpu.length} × ${cpu[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}.`,
  `A wave of ${USERS} users × ${MAILS} corpus mails on one Dovecot 2.3 (sdbox), rmb (embedded store) in front, every ` +
    `user routed \`source\`; first \`rmb migrate sync\` took ${syncSeconds.toFixed(1)} s. Then ` +
    `\`rmb migrate cutover --wave c6 --concurrency ${IN_FLIGHT}\` while a sender delivered through rmb's LMTP at ` +
    `${RATE} mails/s to the users of the wave, retrying every 4xx.`,
  '',
  '| users | in flight | cut-over total s | frozen p50 ms | frozen p99 ms | frozen max ms | mails answered 250 | ' +
    '4xx retries | 5xx | users inconsistent |',
  '|---|---|---|---|---|---|---|---|---|---|',
  `| ${f.count} | ${IN_FLIGHT} | ${cutSeconds.toFixed(1)} | ${f.p50Ms} | ${f.p99Ms} | ${f.maxMs} | ${delivered} | ` +
    `${retries} | ${refused} | ${inconsistent} |`,
  '',
  'Frozen time: from the freeze to the flip to `local`, including the 1.5 s given to open sessions to end ' +
    '(`--drain-ms`). "Users inconsistent": users whose INBOX in rmb is not exactly their corpus mails plus every ' +
    'mail answered 250, each once.',
];
const file = join(root, 'BENCHMARKS.md');
const old = readFileSync(file, 'utf8');
const block = `<!-- bench-cutover:start -->\n${lines.join('\n')}\n<!-- bench-cutover:end -->`;
const re = /<!-- bench-cutover:start -->[\s\S]*<!-- bench-cutover:end -->/;
writeFileSync(file, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n## Cut-over\n\n${block}\n`);
console.log(lines.join('\n'));
rmSync(tmp, { recursive: true, force: true });
if (inconsistent || refused) process.exit(1);
