#!/usr/bin/env node
// `npm run bench` (fourth part, issue 14): CREATE and DELETE latency for a user with the default
// mailboxes and for one with BENCH_SCALE_MAILBOXES (11,000) mailboxes, rmb (embedded store) next to
// Dovecot 2.3 (scripts/dovecot-local.sh, sdbox) in this one script. Each figure is the median of
// BENCH_SCALE_ROUNDS (100) `CREATE probe` + `DELETE probe` pairs over one IMAP connection.
// Writes BENCHMARKS.md between the bench-scale markers.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Imap, startRmb, stopDovecot } from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MANY = Number(process.env.BENCH_SCALE_MAILBOXES ?? 11000);
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 100);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');

async function measure(port, user, pass) {
  const c = await Imap.open(port);
  await c.until(/\* OK[^\r]*\r\n/);
  await c.run(`LOGIN ${user} ${pass}`);
  await c.run('LIST "" "*"');
  const pairs = async () => {
    const t = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = process.hrtime.bigint();
      await c.run('CREATE probe');
      await c.run('DELETE probe');
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    t.sort((a, b) => a - b);
    return t[Math.floor(t.length / 2)];
  };
  const few = await pairs();
  for (let i = 0; i < MANY; i += 500) {
    const batch = [];
    for (let k = i; k < Math.min(MANY, i + 500); k++) batch.push(`CREATE "Archive/${2000 + Math.floor(k / 100)}/${k}"`);
    await c.run(...batch);
  }
  const many = await pairs();
  c.sock.destroy();
  return { few, many };
}

const tmp = mkdtempSync('/tmp/rmb-bench-scale-');
chmodSync(tmp, 0o755);
const results = [];
// Dovecot
let dovecot = null;
try {
  const out = execFileSync(dovecotScript, ['start', join(tmp, 'dovecot'), 'scale:pw'], { encoding: 'utf8' });
  const port = Number(/DOVECOT_IMAP_PORT=(\d+)/.exec(out)[1]);
  console.error(`bench-scale: Dovecot, ${MANY} mailboxes...`);
  dovecot = await measure(port, 'scale', 'pw');
  results.push({ name: 'Dovecot 2.3 (sdbox)', ...dovecot });
} catch (e) {
  console.error(`bench-scale: Dovecot not measured: ${e.message.split('\n')[0]}`);
} finally {
  await stopDovecot(dovecotScript, join(tmp, 'dovecot'));
}
// rmb
const data = join(tmp, 'rmb');
execFileSync(process.execPath, [cli, 'user', 'add', 'scale', '-p', 'pw', '-s', `dataDir=${data}`]);
const { server, imap: port } = await startRmb(cli, data, ['lmtp.port=null', 'store.maxMailboxes=100000']);
console.error(`bench-scale: rmb, ${MANY} mailboxes...`);
const rmb = await measure(port, 'scale', 'pw');
server.kill('SIGTERM');
results.push({ name: 'rmb, embedded store', ...rmb });

const cpu = os.cpus();
const lines = [
  `Run: \`npm run bench\` (scripts/bench-scale.mjs) on ${new Date().toISOString().slice(0, 10)}; machine: ` +
    `${cpu.length} × ${cpu[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}.`,
  `One IMAP connection; each figure is the median of ${ROUNDS} \`CREATE probe\` + \`DELETE probe\` pairs, first with ` +
    `the default mailboxes only, then after ${MANY.toLocaleString('en')} more were created.`,
  '',
  '| server | CREATE+DELETE ms, defaults only | with ' + MANY.toLocaleString('en') + ' mailboxes | growth |',
  '|---|---|---|---|',
  ...results.map(
    (r) => `| ${r.name} | ${r.few.toFixed(2)} | ${r.many.toFixed(2)} | ${(r.many / r.few).toFixed(2)} × |`,
  ),
];
if (dovecot) {
  lines.push(
    '',
    `rmb's time ÷ Dovecot's with ${MANY.toLocaleString('en')} mailboxes (lower is better for rmb): ` +
      `${(rmb.many / dovecot.many).toFixed(2)} ×`,
  );
}
const file = join(root, 'BENCHMARKS.md');
const old = readFileSync(file, 'utf8');
const block = `<!-- bench-scale:start -->\n${lines.join('\n')}\n<!-- bench-scale:end -->`;
const re = /<!-- bench-scale:start -->[\s\S]*<!-- bench-scale:end -->/;
writeFileSync(file, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n## Many mailboxes\n\n${block}\n`);
console.log(lines.join('\n'));
rmSync(tmp, { recursive: true, force: true });
