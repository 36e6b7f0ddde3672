#!/usr/bin/env node
// `npm run bench` (issue 14, item 3 and 7): one mailbox grown over LMTP by Postfix's smtp-source
// (2 KiB mails, 8 sessions) to each size of BENCH_LARGE_SIZES (default 1000,100000; add 1000000
// for the million), and at each size the operations of scripts/bench-large-ops.py (Python's
// imaplib, median ms) and the memory of BENCH_LARGE_SESSIONS (20) sessions that SELECT it; rmb
// (embedded store) next to Dovecot 2.3 (scripts/dovecot-local.sh, sdbox) in this one script.
// Dovecot takes mail over LMTP at about 250/s, so past BENCH_LARGE_LMTP_MAX (100,000) messages its
// mailbox is grown by `doveadm import` from an mbox of the same 2 KiB mails instead (its fill rate is
// then not shown); rmb's always over LMTP.
// Writes BENCHMARKS.md between the bench-large markers.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Imap, runLine, smtpSourceOrSkip, startDovecot, startRmb, stopDovecot, writeSection } from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = (process.env.BENCH_LARGE_SIZES ?? '1000,100000').split(',').map(Number);
const SESSIONS = Number(process.env.BENCH_LARGE_SESSIONS ?? 20);
const REPS = Number(process.env.BENCH_LARGE_REPS ?? 10);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');
const ops = join(root, 'scripts', 'bench-large-ops.py');
const SMTP_SOURCE = smtpSourceOrSkip('bench-large.mjs');
const LMTP_MAX = Number(process.env.BENCH_LARGE_LMTP_MAX ?? 100000);

/**
 * Grow Dovecot's INBOX of `user` by `n` 2 KiB mails with `doveadm import` from an mbox written in
 * `dir`; returns null (the rate of a bulk import is not a delivery rate).
 */
function importDovecot(conf, dir, user, n) {
  const box = join(dir, `import-${n}`);
  mkdirSync(box, { recursive: true });
  chmodSync(box, 0o777);
  const file = join(box, 'inbox');
  const fd = openSync(file, 'w', 0o666);
  const body = 'x'.repeat(1900);
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf +=
      'From bench@example.com Mon Dec  7 10:00:00 2026\n' +
      `From: bench@example.com\nTo: ${user}@localhost\nSubject: bulk ${i}\nMessage-ID: <bulk${i}@bench>\n\n${body}\n\n`;
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
  chmodSync(file, 0o666);
  execFileSync('doveadm', ['-c', conf, 'import', '-u', user, `mbox:${box}/idx:INBOX=${file}`, '', 'all'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(box, { recursive: true, force: true });
  return null;
}

/** Deliver `n` 2 KiB mails to `rcpt` over LMTP with smtp-source; returns deliveries/s. */
function fill(lmtpPort, rcpt, n) {
  if (n <= 0) return null;
  const t0 = process.hrtime.bigint();
  execFileSync(
    SMTP_SOURCE,
    [
      '-L',
      '-d',
      '-s',
      '8',
      '-m',
      String(n),
      '-l',
      '2048',
      '-f',
      'bench@example.com',
      '-t',
      rcpt,
      `127.0.0.1:${lmtpPort}`,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Resident memory of `pids` in KiB (from /proc). */
function rssKiB(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** KiB of resident memory per session that SELECTs INBOX, over SESSIONS sessions. */
async function memoryPerSession(port, user, pass, pids) {
  const before = rssKiB(pids());
  const open = [];
  for (let i = 0; i < SESSIONS; i++) {
    const c = await Imap.open(port);
    await c.until(/\* OK[^\r]*\r\n/);
    await c.run(`LOGIN ${user} ${pass}`, 'SELECT INBOX');
    open.push(c);
  }
  await new Promise((r) => setTimeout(r, 500));
  const after = rssKiB(pids());
  for (const c of open) c.sock.destroy();
  return (after - before) / SESSIONS;
}

/** Grow the mailbox to each size and measure there. */
async function run(name, imapPort, lmtpPort, user, pass, pids, bulk) {
  const rows = [];
  let have = 0;
  for (const size of SIZES) {
    console.error(`bench-large: ${name}: filling to ${size.toLocaleString('en')}...`);
    const rate = bulk && size > LMTP_MAX ? bulk(size - have) : fill(lmtpPort, `${user}@localhost`, size - have);
    have = size;
    const got = JSON.parse(
      execFileSync('python3', [ops, String(imapPort), user, pass, String(REPS)], { encoding: 'utf8' }),
    );
    const mem = await memoryPerSession(imapPort, user, pass, pids);
    rows.push({ size, rate, ...got, mem });
  }
  return rows;
}

const tmp = mkdtempSync('/tmp/rmb-bench-large-');
chmodSync(tmp, 0o755);
const results = {};
let dovecot = null;
try {
  if (process.env.BENCH_NO_DOVECOT) throw new Error('BENCH_NO_DOVECOT is set');
  const { imap, lmtp } = await startDovecot(dovecotScript, join(tmp, 'dovecot'), ['large:pw']);
  // every imap process of this Dovecot (one per session)
  const pids = () =>
    execFileSync('pgrep', ['-f', '^dovecot/imap'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  const conf = join(tmp, 'dovecot', 'dovecot.conf');
  dovecot = await run(
    'Dovecot',
    imap,
    lmtp,
    'large',
    'pw',
    () => {
      try {
        return pids();
      } catch {
        return [];
      }
    },
    (n) => importDovecot(conf, tmp, 'large', n),
  );
  results['Dovecot 2.3 (sdbox)'] = dovecot;
} catch (e) {
  console.error(`bench-large: Dovecot not measured: ${e.message.split('\n')[0]}`);
} finally {
  await stopDovecot(dovecotScript, join(tmp, 'dovecot'));
}

const data = join(tmp, 'rmb');
execFileSync(process.execPath, [cli, 'user', 'add', 'large', '-p', 'pw', '-s', `dataDir=${data}`]);
const { server, imap, lmtp } = await startRmb(cli, data, ['lmtp.port=0']);
const rmb = await run('rmb', imap, lmtp, 'large', 'pw', () => [server.pid]);
results['rmb, embedded store'] = rmb;
server.kill('SIGTERM');

const fmt = (x, d = 1) =>
  x == null ? '–' : x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
const ROWS = [
  ['rate', 'filling it over LMTP (smtp-source -d, 8 sessions), deliveries/s', 0],
  ['select', 'SELECT, ms', 1],
  ['status', 'STATUS (MESSAGES UIDNEXT UNSEEN), ms', 1],
  ['fetch_flags_all', 'FETCH 1:* (FLAGS), ms', 1],
  ['search_unseen', 'UID SEARCH UNSEEN, ms', 1],
  ['fetch_last50_envelope', 'FETCH of the last 50 (ENVELOPE), ms', 1],
  ['append', 'one APPEND (2 KiB), ms', 1],
  ['store', 'STORE +FLAGS / -FLAGS on one message, ms', 1],
  ['expunge', 'STORE \\Deleted + EXPUNGE of one message, ms', 1],
  ['mem', `memory per session that SELECTs it (${SESSIONS} sessions), KiB`, 0],
];
const names = Object.keys(results);
const header = ['| one mailbox of |'];
const sep = ['|---|'];
for (const size of SIZES) {
  for (const n of names) {
    header.push(` ${size.toLocaleString('en')}: ${n.split(',')[0].split(' (')[0]} |`);
    sep.push('---|');
  }
  if (dovecot) {
    header.push(` ${size.toLocaleString('en')}: rmb ÷ Dovecot |`);
    sep.push('---|');
  }
}
const lines = [
  runLine('bench-large.mjs'),
  "One mailbox grown over LMTP by smtp-source with 2 KiB mails; each operation by Python's imaplib on one " +
    `connection, median of ${REPS} (FETCH 1:* and SEARCH: of ${Math.max(3, REPS >> 1)}). For times, a ratio below ` +
    '1 means rmb is faster; for the fill rate, above 1. ' +
    `Past ${LMTP_MAX.toLocaleString('en')} messages Dovecot's mailbox is grown by \`doveadm import\` from an mbox ` +
    '(LMTP at its rate would take over an hour): no fill rate is shown for it there.',
  '',
  header.join(''),
  sep.join(''),
];
for (const [key, label, d] of ROWS) {
  const cells = [`| ${label} |`];
  SIZES.forEach((size, i) => {
    for (const n of names) cells.push(` ${fmt(results[n][i][key], d)} |`);
    if (dovecot) {
      const a = results['rmb, embedded store'][i][key];
      const b = dovecot[i][key];
      cells.push(` ${a != null && b ? (a / b).toFixed(2) : '–'} |`);
    }
  });
  lines.push(cells.join(''));
}
writeSection(root, 'bench-large', 'Large mailboxes', lines);
rmSync(tmp, { recursive: true, force: true });
