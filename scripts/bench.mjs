#!/usr/bin/env node
// `npm run bench`: LMTP deliveries/s (Postfix's smtp-source) and IMAP FETCH latency for rmb on
// the embedded store, rmb on a local Ceph cluster (scripts/ceph-local.sh, bluestore) and Dovecot
// (scripts/dovecot-local.sh, sdbox) run side by side in this one script on this one machine.
// Writes the results to BENCHMARKS.md (replacing the section between the bench markers).
//
// Options (env): BENCH_MESSAGES (default 2000), BENCH_SESSIONS (8), BENCH_SIZE (bytes, 5000),
// BENCH_FETCHES (500), BENCH_BIG_SIZE (102400) and BENCH_BIG_MESSAGES (500) for the second LMTP
// load with large mails. Needs: smtp-source (Debian postfix), dovecot-imapd + dovecot-lmtpd,
// and for the Ceph row ceph-mon ceph-osd ceph-common + the built librados addon.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 8);
const SIZE = Number(process.env.BENCH_SIZE ?? 5000);
const FETCHES = Number(process.env.BENCH_FETCHES ?? 500);
// the second LMTP load: larger mails (issue 14: 100 KiB)
const BIG_SIZE = Number(process.env.BENCH_BIG_SIZE ?? 102400);
const BIG_MESSAGES = Number(process.env.BENCH_BIG_MESSAGES ?? 500);
const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A minimal IMAP client: one command at a time, literals read by size. */
class Imap {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
  }
  static open(port) {
    return new Promise((res, rej) => {
      const s = connect(port, '127.0.0.1', () => res(new Imap(s)));
      s.once('error', rej);
    });
  }
  async waitFor(pred) {
    for (;;) {
      const r = pred();
      if (r !== undefined) return r;
      await new Promise((r2) => {
        this.waiter = r2;
      });
    }
  }
  /** Resolves with everything up to and including the tagged line. */
  async cmd(tag, line) {
    this.sock.write(`${tag} ${line}\r\n`);
    return this.waitFor(() => {
      let pos = 0;
      for (;;) {
        const nl = this.buf.indexOf('\r\n', pos);
        if (nl < 0) return undefined;
        const text = this.buf.subarray(pos, nl).toString('latin1');
        const lit = /\{(\d+)\}$/.exec(text);
        if (lit) {
          pos = nl + 2 + Number(lit[1]);
          if (pos > this.buf.length) return undefined;
          continue;
        }
        if (text.startsWith(`${tag} `)) {
          const out = this.buf.subarray(0, nl + 2);
          this.buf = this.buf.subarray(nl + 2);
          return out.toString('latin1');
        }
        pos = nl + 2;
      }
    });
  }
  async greeting() {
    return this.waitFor(() => {
      const i = this.buf.indexOf('\r\n');
      if (i < 0) return undefined;
      this.buf = this.buf.subarray(i + 2);
      return true;
    });
  }
  close() {
    this.sock.destroy();
  }
}

function smtpSource(port, rcpt, size = SIZE, messages = MESSAGES) {
  const t = process.hrtime.bigint();
  execFileSync(
    'smtp-source',
    [
      '-L',
      '-d',
      '-s',
      String(SESSIONS),
      '-m',
      String(messages),
      '-l',
      String(size),
      '-f',
      'bench@example.org',
      '-t',
      rcpt,
      `127.0.0.1:${port}`,
    ],
    { stdio: 'inherit' },
  );
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function fetchLatency(port, user, pass) {
  const c = await Imap.open(port);
  await c.greeting();
  const login = await c.cmd('a', `LOGIN ${user} ${pass}`);
  if (!/^a OK/m.test(login)) throw new Error(`login failed: ${login}`);
  const sel = await c.cmd('b', 'SELECT INBOX');
  const exists = Number(/\* (\d+) EXISTS/.exec(sel)[1]);
  const t0 = process.hrtime.bigint();
  await c.cmd('c', 'FETCH 1:* (FLAGS)');
  const flagsMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const lat = [];
  for (let i = 0; i < FETCHES; i++) {
    const seq = 1 + Math.floor(Math.random() * exists);
    const t = process.hrtime.bigint();
    const r = await c.cmd(`f${i}`, `FETCH ${seq} (BODY.PEEK[])`);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (!new RegExp(`^f${i} OK`, 'm').test(r.slice(-200))) throw new Error(`FETCH failed: ${r.slice(-200)}`);
  }
  await c.cmd('z', 'LOGOUT').catch(() => undefined);
  c.close();
  lat.sort((a, b) => a - b);
  return { exists, flagsMs, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] };
}

/** Start `rmb serve` with `sets`; resolves with its ports and a stop function. */
function startRmb(dataDir, sets) {
  const cli = join(root, 'packages/rmb/dist/src/cli.js');
  execFileSync(process.execPath, [cli, 'user', 'add', 'bench', '-p', 'bench', '-s', `dataDir=${dataDir}`], {
    stdio: 'ignore',
  });
  const args = [
    cli,
    'serve',
    '-s',
    `dataDir=${dataDir}`,
    '-s',
    'imap.port=0',
    '-s',
    'imap.tlsPort=null',
    '-s',
    'lmtp.port=0',
    '-s',
    'log.level=warn',
    '-s',
    `lmtp.maxClients=${SESSIONS * 2}`,
    ...sets.flatMap((s) => ['-s', s]),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /READY imap=(\d+) imaps=\d* lmtp=(\d+)/.exec(out);
      if (m)
        res({
          imap: Number(m[1]),
          lmtp: Number(m[2]),
          stop: () =>
            new Promise((r) => {
              proc.once('exit', r);
              proc.kill('SIGTERM');
            }),
        });
    });
    proc.once('exit', (code) => rej(new Error(`rmb exited ${code}: ${out}`)));
  });
}

async function run(name, target) {
  console.error(`== ${name}: ${MESSAGES} LMTP deliveries of ${SIZE} bytes over ${SESSIONS} sessions`);
  const secs = smtpSource(target.lmtp, target.rcpt);
  const f = await fetchLatency(target.imap, target.user, target.pass);
  if (f.exists < MESSAGES) throw new Error(`${name}: only ${f.exists} of ${MESSAGES} mails arrived`);
  console.error(`== ${name}: ${BIG_MESSAGES} LMTP deliveries of ${BIG_SIZE} bytes over ${SESSIONS} sessions`);
  const bigSecs = smtpSource(target.lmtp, target.rcpt, BIG_SIZE, BIG_MESSAGES);
  const row = {
    name,
    perSec: MESSAGES / secs,
    bigPerSec: BIG_MESSAGES / bigSecs,
    flagsMs: f.flagsMs,
    p50: f.p50,
    p99: f.p99,
    exists: f.exists,
  };
  console.error(
    `   ${row.perSec.toFixed(0)} deliveries/s; FETCH BODY[] p50 ${f.p50.toFixed(2)} ms p99 ` +
      `${f.p99.toFixed(2)} ms; FETCH 1:* FLAGS ${f.flagsMs.toFixed(1)} ms`,
  );
  return row;
}

const rows = [];
const notes = [];
const tmp = mkdtempSync(join(os.tmpdir(), 'rmb-bench-'));
chmodSync(tmp, 0o755); // Dovecot's auth and mail processes run as other users and must traverse it
const cleanups = [];
try {
  for (const cmd of ['smtp-source', 'dovecot'])
    if (!has(cmd)) throw new Error(`${cmd} not found: apt-get install postfix dovecot-imapd dovecot-lmtpd`);

  const dv = join(tmp, 'dovecot');
  execFileSync(join(root, 'scripts/dovecot-local.sh'), ['start', dv, 'bench:bench'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  cleanups.push(() => execFileSync(join(root, 'scripts/dovecot-local.sh'), ['stop', dv]));
  const dovecot = await run('Dovecot 2.3 (sdbox, local disk)', {
    lmtp: Number(readFileSync(join(dv, 'lmtp.port'), 'utf8')),
    imap: Number(readFileSync(join(dv, 'imap.port'), 'utf8')),
    rcpt: 'bench@localhost',
    user: 'bench',
    pass: 'bench',
  });
  rows.push(dovecot);

  const emb = await startRmb(join(tmp, 'rmb-embedded'), []);
  cleanups.push(emb.stop);
  rows.push(
    await run('rmb, embedded store (LMDB, local disk)', {
      ...emb,
      rcpt: 'bench@localhost',
      user: 'bench',
      pass: 'bench',
    }),
  );
  await emb.stop();
  cleanups.pop();

  const addon = existsSync(join(root, 'packages/rados/build/Release/rados_addon.node'));
  if (has('ceph-osd') && addon) {
    const cdir = join(tmp, 'ceph');
    execFileSync(join(root, 'scripts/ceph-local.sh'), ['start', cdir, '--store', 'bluestore', '--size', '4096'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    cleanups.push(() => execFileSync(join(root, 'scripts/ceph-local.sh'), ['stop', cdir]));
    const ceph = await startRmb(join(tmp, 'rmb-ceph'), [
      'store.backend=librados',
      `store.ceph.conf=${join(cdir, 'ceph.conf')}`,
      'store.pool=mail',
    ]);
    cleanups.push(ceph.stop);
    rows.push(
      await run('rmb, local Ceph (librados; 1 mon, 1 bluestore OSD on a file)', {
        ...ceph,
        rcpt: 'bench@localhost',
        user: 'bench',
        pass: 'bench',
      }),
    );
  } else {
    notes.push(
      '**The Ceph row did not run**: ceph-osd or the librados addon is missing (apt-get install ' +
        'ceph-mon ceph-osd ceph-common librados-dev, then npm ci).',
    );
    console.error(`*** ${notes[notes.length - 1]}`);
  }
} finally {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* best effort */
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}

const dv = rows[0];
const cpu = os.cpus();
const machine =
  `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} ` +
  `GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
const fmt = (n, d = 2) => n.toFixed(d);
const lines = [
  '<!-- bench:start -->',
  `Run: \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}; machine: ${machine}.`,
  `Load: Postfix \`smtp-source -L -d -s ${SESSIONS} -m ${MESSAGES} -l ${SIZE}\` (LMTP, ${SESSIONS} ` +
    `parallel sessions reusing their connections, ${SIZE}-byte mails, one recipient), then ` +
    `${BIG_MESSAGES} mails of ${BIG_SIZE} bytes the same way;`,
  `then one IMAP connection: \`FETCH 1:* (FLAGS)\` once and \`FETCH n (BODY.PEEK[])\` for ` +
    `${FETCHES} random n, one at a time.`,
  'Ratios are rmb ÷ Dovecot measured in the same run (deliveries/s: higher is better; latency: lower is better).',
  '',
  `| server | LMTP deliveries/s (${SIZE} B) | ratio | LMTP deliveries/s (${BIG_SIZE} B) | ratio | ` +
    'FETCH BODY[] p50 ms | p99 ms | ratio (p50) | FETCH 1:* FLAGS ms |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${fmt(r.perSec, 0)} | ${fmt(r.perSec / dv.perSec)} | ${fmt(r.bigPerSec, 0)} | ` +
      `${fmt(r.bigPerSec / dv.bigPerSec)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.p50 / dv.p50)} | ` +
      `${fmt(r.flagsMs, 1)} |`,
  ),
  ...(notes.length ? ['', ...notes] : []),
  '<!-- bench:end -->',
];
const file = join(root, 'BENCHMARKS.md');
const head =
  '# Benchmarks\n\nNumbers from `npm run bench` (scripts/bench.mjs). Timing goals live here, never in tests.\n\n';
const old = existsSync(file) ? readFileSync(file, 'utf8') : head;
const next = /<!-- bench:start -->[\s\S]*<!-- bench:end -->/.test(old)
  ? old.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, lines.join('\n'))
  : `${old.trimEnd()}\n\n${lines.join('\n')}\n`;
writeFileSync(file, next);
console.log(lines.join('\n'));
