/**
 * Issue 15, O5: after the change log was trimmed past a client's modseq, QRESYNC and CHANGEDSINCE
 * still resync it correctly (VANISHED (EARLIER) of every UID it may know that is gone, RFC 7162
 * §3.2.5.2, and FETCH of every message changed since), and a session that stayed selected on
 * another process catches up: each view equals a fresh SELECT. Two `rmb serve` on one embedded
 * store, the log kept to 10 modseqs.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectStore } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import { newDataDir, RawClient, startServer, type ServerChild } from './harness.js';

let dataDir: string;
let a: ServerChild;
let b: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ q: 'pw' });
  a = await startServer(dataDir, ['store.changeLogRecords=10']);
  b = await startServer(dataDir, ['store.changeLogRecords=10']);
}, 60000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type State = Map<number, string>;
const norm = (flags: string) =>
  flags
    .split(' ')
    .filter((f) => f && f !== '\\Recent')
    .sort()
    .join(' ');

/** UID -> flags from FETCH responses in `text`, applied onto `into`. */
function applyFetches(text: string, into: State): State {
  for (const m of text.matchAll(/^\* \d+ FETCH \((.*)\)\r$/gm)) {
    const uid = /UID (\d+)/.exec(m[1]);
    const flags = /FLAGS \(([^)]*)\)/.exec(m[1]);
    if (uid && flags) into.set(Number(uid[1]), norm(flags[1]));
  }
  return into;
}

/** The UIDs of every VANISHED (EARLIER) response in `text`. */
function vanished(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/^\* VANISHED \(EARLIER\) ([\d:,]+)\r$/gm))
    for (const part of m[1].split(',')) {
      const [x, y] = part.split(':').map(Number);
      for (let u = x; u <= (y ?? x); u++) out.push(u);
    }
  return out;
}

async function login(s: ServerChild, tag: string): Promise<RawClient> {
  const c = await RawClient.greeted(s.imap, tag);
  expect(await c.tagged('LOGIN q pw')).toMatch(/OK/);
  return c;
}

/** What a fresh session sees: UID -> flags. */
async function fresh(s: ServerChild): Promise<State> {
  const c = await login(s, 'f');
  await c.command('SELECT INBOX');
  const state = applyFetches(await c.command('UID FETCH 1:* (FLAGS)'), new Map());
  c.close();
  return state;
}

/** The log floor of INBOX, read from the store. */
async function logFloor(): Promise<number> {
  const cluster = await connectStore({ backend: 'embedded', path: join(dataDir, 'store') });
  try {
    const store = await MailStore.open(cluster);
    return (await (await store.user('q')).mailbox('INBOX').then((m) => m.counters())).logFloor ?? 0;
  } finally {
    await cluster.close();
  }
}

test('QRESYNC, CHANGEDSINCE and a selected session below the log floor all end equal to a fresh SELECT', async () => {
  const w = await login(b, 'w');
  for (let i = 0; i < 30; i++)
    await w.command(`APPEND INBOX (${i % 3 ? '' : '\\Seen'}) {12+}\r\nSubject: ${String(i).padStart(2, '0')}\r\n`);
  // a QRESYNC client syncs, remembers, and goes away
  const q = await login(a, 'q');
  await q.command('ENABLE QRESYNC');
  const sel = await q.command('SELECT INBOX');
  const uidvalidity = Number(/UIDVALIDITY (\d+)/.exec(sel)![1]);
  const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
  const saved = applyFetches(await q.command('UID FETCH 1:* (FLAGS)'), new Map());
  expect(saved.size).toBe(30);
  q.close();
  // a session that stays selected on server a
  const s = await login(a, 's');
  await s.command('SELECT INBOX');
  // 250 changes through server b: flags, expunges, new mail
  expect(await w.tagged('SELECT INBOX')).toMatch(/OK/);
  for (let i = 0; i < 250; i++) {
    const uid = 1 + ((i * 7) % 30);
    if (i % 10 === 9) await w.command(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
    else await w.command(`UID STORE ${uid} FLAGS.SILENT (k${i}${i % 2 ? ' \\Seen' : ''})`);
    if (i % 25 === 0) await w.command('APPEND INBOX {12+}\r\nSubject: nn\r\n');
    if (i % 30 === 29) await w.command('EXPUNGE');
  }
  await w.command('EXPUNGE');
  w.close();
  const truth = await fresh(b);
  expect(truth.size).toBeLessThan(40); // 40 appended, some expunged
  // the log really was trimmed past the client's modseq
  let floor = 0;
  for (let i = 0; i < 50 && floor <= modseq; i++) {
    floor = await logFloor();
    if (floor <= modseq) await new Promise((r) => setTimeout(r, 100));
  }
  expect(floor).toBeGreaterThan(modseq);

  // QRESYNC below the floor
  const q2 = await login(a, 'r');
  await q2.command('ENABLE QRESYNC');
  const re = await q2.command(`SELECT INBOX (QRESYNC (${uidvalidity} ${modseq}))`);
  const mine = new Map(saved);
  for (const u of vanished(re)) mine.delete(u);
  applyFetches(re, mine);
  expect(mine).toEqual(truth);
  // CHANGEDSINCE with VANISHED below the floor, in the same session
  const cs = await q2.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`);
  const again = new Map(saved);
  for (const u of vanished(cs)) again.delete(u);
  applyFetches(cs, again);
  expect(again).toEqual(truth);
  q2.close();

  // the session that stayed selected catches up on NOOP
  const upd = await s.command('NOOP');
  expect(upd).toMatch(/EXPUNGE/);
  const view = applyFetches(await s.command('UID FETCH 1:* (FLAGS)'), new Map());
  expect(view).toEqual(truth);
  const seqs = [...(await s.command('FETCH 1:* (UID)')).matchAll(/^\* (\d+) FETCH \(UID (\d+)\)/gm)].map((m) =>
    Number(m[2]),
  );
  expect(seqs).toEqual([...truth.keys()].sort((x, y) => x - y));
  s.close();
}, 120000);
