#!/usr/bin/env node
// `npm run bench` (issue 14, item 7): an IMAP load written with imapflow, in place of Dovecot's
// imaptest (not in Debian; when an `imaptest` binary is given as IMAPTEST=path this script says
// so and still runs its own load), rmb (embedded store) next to Dovecot 2.3 (sdbox) in one script.
//   - "many users": BENCH_LOAD_CLIENTS (10) clients, each on its own user, repeating: log in,
//     SELECT INBOX, FETCH 1:* (FLAGS), FETCH 3 random BODY.PEEK[], STORE +FLAGS \Seen on one,
//     APPEND one, STORE \Deleted + EXPUNGE one, LOGOUT;
//   - "one mailbox": the same number of clients on ONE user's INBOX, each repeating one random
//     operation: STORE +/-FLAGS on a random message, APPEND, UID EXPUNGE of a message it
//     appended, FETCH (FLAGS) of 20 random messages. Then the state check: every client's view
//     after NOOP (UIDs and flags) must equal a fresh SELECT's.
// Each load runs BENCH_LOAD_SECONDS (20). Reported: IMAP commands/s (each operation above counts
// the commands it sends), errors (NO/BAD/failed connections) and the state check.
// Writes BENCHMARKS.md between the bench-load markers.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import {
  runLine,
  smtpSourceOrSkip,
  startDovecot,
  startRmb,
  stopDovecot,
  timeProfile,
  writeSection,
} from './bench-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLIENTS = Number(process.env.BENCH_LOAD_CLIENTS ?? 10);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
const cli = join(root, 'packages', 'rmb', 'dist', 'src', 'cli.js');
const dovecotScript = join(root, 'scripts', 'dovecot-local.sh');
const SMTP_SOURCE = smtpSourceOrSkip('bench-load.mjs');
if (process.env.IMAPTEST) {
  console.error(`bench-load: IMAPTEST=${process.env.IMAPTEST} given; this script runs its own imapflow load only`);
}

const users = Array.from({ length: CLIENTS }, (_, i) => `load${i + 1}`);
const MSG = (i) =>
  Buffer.from(`From: load@example.com\r\nTo: x@example.com\r\nSubject: load ${i}\r\n\r\n${'x'.repeat(2000)}\r\n`);

/** Deliver `n` mails to `rcpt` over LMTP (smtp-source), once more if the run is cut off. */
function fill(lmtp, rcpt, n) {
  const args = ['-L', '-d', '-s', '4', '-m', String(n), '-l', '3000', '-f', 'load@example.com', '-t', rcpt];
  try {
    execFileSync(SMTP_SOURCE, [...args, `127.0.0.1:${lmtp}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    execFileSync(SMTP_SOURCE, [...args, `127.0.0.1:${lmtp}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

const client = (port, user) => {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    // as imaptest: no COMPRESS (the reference Dovecot here has no imap_zlib), no STARTTLS
    disableCompression: true,
    doSTARTTLS: false,
    auth: { user, pass: 'pw' },
    logger: false,
  });
  // a dropped connection is an error of the operation using it (counted), not of the script
  c.on('error', () => undefined);
  return c;
};

/** Run `step` (returns the commands it sent) in each of `n` loops until the deadline. */
async function loop(n, step) {
  const until = Date.now() + SECONDS * 1000;
  let commands = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      while (Date.now() < until) {
        try {
          commands += await step(i);
        } catch (e) {
          if (errors++ < 3) console.error(`bench-load: error: ${e.message} ${e.responseText ?? e.reason ?? ''}`);
        }
      }
    }),
  );
  return { rate: commands / SECONDS, errors };
}

async function manyUsers(port) {
  let k = 0;
  return loop(CLIENTS, async (i) => {
    const c = client(port, users[i]);
    await c.connect(); // CAPABILITY + LOGIN (+ ENABLE/ID as imapflow does)
    let cmds = 2;
    try {
      const box = await c.mailboxOpen('INBOX');
      cmds++;
      for await (const m of c.fetch('1:*', { flags: true })) void m;
      cmds++;
      for (let j = 0; j < 3 && box.exists; j++) {
        await c.fetchOne(String(1 + Math.floor(Math.random() * box.exists)), { source: true });
        cmds++;
      }
      if (box.exists) await c.messageFlagsAdd(String(1 + Math.floor(Math.random() * box.exists)), ['\\Seen']);
      const a = await c.append('INBOX', MSG(k++));
      await c.messageFlagsAdd(String(a.uid), ['\\Deleted'], { uid: true });
      await c.messageDelete(String(a.uid), { uid: true }); // UID STORE + UID EXPUNGE
      cmds += 5;
    } finally {
      await c.logout();
      cmds++;
    }
    return cmds;
  });
}

async function oneMailbox(port) {
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = client(port, 'shared');
    await c.connect();
    await c.mailboxOpen('INBOX');
    clients.push(c);
  }
  const mine = clients.map(() => []);
  let k = 0;
  const result = await loop(CLIENTS, async (i) => {
    const c = clients[i];
    const exists = c.mailbox.exists;
    const r = Math.random();
    if (r < 0.35 && exists) {
      const seq = String(1 + Math.floor(Math.random() * exists));
      if (Math.random() < 0.5) await c.messageFlagsAdd(seq, ['\\Flagged', '$Load']);
      else await c.messageFlagsRemove(seq, ['\\Flagged', '$Load']);
    } else if (r < 0.55) {
      const a = await c.append('INBOX', MSG(k++));
      mine[i].push(a.uid);
    } else if (r < 0.7 && mine[i].length) {
      const uid = mine[i].splice(Math.floor(Math.random() * mine[i].length), 1)[0];
      await c.messageDelete(String(uid), { uid: true });
      return 2;
    } else if (exists) {
      const seqs = Array.from({ length: 20 }, () => 1 + Math.floor(Math.random() * exists));
      for await (const m of c.fetch(seqs.join(','), { flags: true })) void m;
    } else await c.noop();
    return 1;
  });
  // state check: every view after NOOP equals a fresh SELECT
  const view = async (c) => {
    const out = [];
    // \Recent is per session by definition (RFC 3501 §2.3.2): left out of the comparison
    for await (const m of c.fetch('1:*', { uid: true, flags: true }))
      out.push(
        `${m.uid}:${[...m.flags]
          .filter((f) => f !== '\\Recent')
          .sort()
          .join(' ')}`,
      );
    return out.join(',');
  };
  const fresh = client(port, 'shared');
  await fresh.connect();
  await fresh.mailboxOpen('INBOX');
  const want = await view(fresh);
  let mismatched = 0;
  for (const c of clients) {
    await c.noop();
    if ((await view(c)) !== want) mismatched++;
    await c.logout();
  }
  await fresh.logout();
  return { ...result, mismatched, messages: want ? want.split(',').length : 0 };
}

async function measure(name, imap, lmtp) {
  console.error(`bench-load: ${name}: filling...`);
  for (const u of users) fill(lmtp, `${u}@localhost`, 100);
  fill(lmtp, 'shared@localhost', 500);
  console.error(`bench-load: ${name}: many users, ${SECONDS} s...`);
  const many = await manyUsers(imap);
  console.error(`bench-load: ${name}: one mailbox, ${SECONDS} s...`);
  const one = await oneMailbox(imap);
  return { many, one };
}

const tmp = mkdtempSync('/tmp/rmb-bench-load-');
chmodSync(tmp, 0o755);
const rows = [];
let dovecot = null;
try {
  if (process.env.BENCH_NO_DOVECOT) throw new Error('BENCH_NO_DOVECOT is set');
  const all = [...users, 'shared'].map((u) => `${u}:pw`);
  const { imap, lmtp } = await startDovecot(dovecotScript, join(tmp, 'dovecot'), all);
  dovecot = await measure('Dovecot', imap, lmtp);
  rows.push({ name: 'Dovecot 2.3 (sdbox)', ...dovecot });
} catch (e) {
  console.error(`bench-load: Dovecot not measured: ${e.message.split('\n')[0]}`);
} finally {
  await stopDovecot(dovecotScript, join(tmp, 'dovecot'));
}

const data = join(tmp, 'rmb');
for (const u of [...users, 'shared'])
  execFileSync(process.execPath, [cli, 'user', 'add', u, '-p', 'pw', '-s', `dataDir=${data}`]);
const { server, imap, lmtp, metrics } = await startRmb(cli, data, ['lmtp.port=0', 'metrics.port=0']);
const rmb = await measure('rmb', imap, lmtp);
rows.push({ name: 'rmb, embedded store', ...rmb });
const profiles = [`embedded store: ${await timeProfile(metrics)}`];
server.kill('SIGTERM');

// rmb on a local Ceph cluster (scripts/ceph-local.sh: 1 mon, 1 memstore OSD), as issue 14 measured it
let ceph = null;
const cephScript = join(root, 'scripts', 'ceph-local.sh');
const addon = join(root, 'packages', 'rados', 'build', 'Release', 'rados_addon.node');
let hasCeph = false;
try {
  execFileSync('sh', ['-c', 'command -v ceph-osd'], { stdio: 'ignore' });
  hasCeph = existsSync(addon) && !process.env.BENCH_NO_CEPH;
} catch {
  hasCeph = false;
}
if (hasCeph) {
  const cdir = join(tmp, 'ceph');
  try {
    execFileSync(cephScript, ['start', cdir, '--size', '4096'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const cdata = join(tmp, 'rmb-ceph');
    const cephSets = ['store.backend=librados', `store.ceph.conf=${join(cdir, 'ceph.conf')}`, 'store.pool=mail'];
    for (const u of [...users, 'shared'])
      execFileSync(process.execPath, [
        cli,
        'user',
        'add',
        u,
        '-p',
        'pw',
        '-s',
        `dataDir=${cdata}`,
        ...cephSets.flatMap((s) => ['-s', s]),
      ]);
    const r = await startRmb(cli, cdata, ['lmtp.port=0', 'metrics.port=0', ...cephSets]);
    ceph = await measure('rmb on Ceph', r.imap, r.lmtp);
    rows.push({ name: 'rmb, local Ceph (librados; 1 mon, 1 memstore OSD)', ...ceph });
    profiles.push(`Ceph: ${await timeProfile(r.metrics)}`);
    r.server.kill('SIGTERM');
  } catch (e) {
    console.error(`bench-load: Ceph not measured: ${e.message.split('\n')[0]}`);
  } finally {
    try {
      execFileSync(cephScript, ['stop', cdir], { stdio: 'ignore' });
    } catch {
      /* not started */
    }
  }
} else console.error('bench-load: *** the Ceph row did not run: ceph-osd or the librados addon is missing');

const lines = [
  runLine('bench-load.mjs'),
  `imapflow clients, ${CLIENTS} at once, ${SECONDS} s per load (imaptest is not in Debian; this is the load of the ` +
    'script\'s header). "many users": each client its own user, a whole session per round (login, SELECT, FETCH ' +
    'FLAGS, 3 bodies, STORE, APPEND, STORE + EXPUNGE, LOGOUT). "one mailbox": every client on one INBOX, random ' +
    'STORE, APPEND, UID EXPUNGE, FETCH; then each view after NOOP compared with a fresh SELECT.',
  '',
  '| server | many users, commands/s | errors | one mailbox, commands/s | errors | views ≠ fresh SELECT |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.many.rate.toFixed(0)} | ${r.many.errors} | ${r.one.rate.toFixed(0)} | ${r.one.errors} | ` +
      `${r.one.mismatched} of ${CLIENTS} |`,
  ),
];
if (dovecot) {
  lines.push(
    '',
    `rmb ÷ Dovecot (higher is better for rmb): many users ${(rmb.many.rate / dovecot.many.rate).toFixed(2)} ×, ` +
      `one mailbox ${(rmb.one.rate / dovecot.one.rate).toFixed(2)} ×` +
      (ceph
        ? `; on Ceph: many users ${(ceph.many.rate / dovecot.many.rate).toFixed(2)} ×, one mailbox ` +
          `${(ceph.one.rate / dovecot.one.rate).toFixed(2)} ×.`
        : '.'),
  );
}
lines.push(
  '',
  "Where rmb's time went (its metrics endpoint: sums of the latency histograms over both loads; RADOS " +
    'operations overlap, so their sum can pass the wall time):',
  ...profiles.map((p) => `- ${p}`),
);
writeSection(root, 'bench-load', 'IMAP load', lines);
rmSync(tmp, { recursive: true, force: true });
