/**
 * Issue 14, S2: the new concurrency. Two `rmb serve` instances on one embedded store, each with
 * two worker processes sharing its listeners (four processes in all):
 * - IDLE across processes: sessions in IDLE on every process hear of an APPEND made through
 *   another within seconds (the store's notify bus), not at the 30 s poll;
 * - eight sessions spread over the four processes on one mailbox do STORE, EXPUNGE and APPEND at
 *   random; then every session's view (sequence numbers, UIDs, flags, modseqs) equals a fresh
 *   SELECT's.
 * Also: a worker that dies is replaced, and SIGTERM stops every worker.
 * The mailbox index is sharded in ranges of 4 UIDs (S3, ADR 0020): the four processes' compactions
 * run under the load, beside their overlays and tombstones.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_NAMESPACES, connect as connectStore } from '@rmb/rados';
import { ImapFlow } from 'imapflow';
import { seededRandom } from '@rmb/rados/testing';
import { newDataDir, startServer, type ServerChild } from './harness.js';

const SESSIONS = 8;
const OPS = 30;

let dataDir: string;
let a: ServerChild;
let b: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ multi: 'pw' });
  a = await startServer(dataDir, ['workers=2', 'store.indexShardEntries=4']);
  b = await startServer(dataDir, ['workers=2', 'store.indexShardEntries=4']);
}, 60000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const client = (port: number) =>
  new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    qresync: true, // CONDSTORE on: every FETCH carries MODSEQ
    auth: { user: 'multi', pass: 'pw' },
    logger: false,
  });

/** The pids of a server's worker processes (children of its primary). */
function workerPids(s: ServerChild): number[] {
  const kids = readFileSync(`/proc/${s.proc.pid}/task/${s.proc.pid}/children`, 'utf8').trim();
  return kids ? kids.split(/\s+/).map(Number) : [];
}

/** Sequence number, UID, flags and modseq of every message as `c`'s session numbers them. */
async function view(c: ImapFlow): Promise<{ seq: number; uid: number; flags: string[]; modseq: string }[]> {
  const out: { seq: number; uid: number; flags: string[]; modseq: string }[] = [];
  if (!c.mailbox || !c.mailbox.exists) return out;
  for await (const m of c.fetch('1:*', { uid: true, flags: true }))
    out.push({ seq: m.seq, uid: m.uid, flags: [...(m.flags ?? [])].sort(), modseq: String(m.modseq) });
  return out;
}

test('each instance runs two worker processes sharing its listeners', () => {
  expect(workerPids(a)).toHaveLength(2);
  expect(workerPids(b)).toHaveLength(2);
});

test('IDLE hears of an APPEND made through another process within seconds', async () => {
  // round robin over each instance's workers: four sessions land on all four processes
  const idlers = await Promise.all(
    [a, a, b, b].map(async (s) => {
      const c = client(s.imap);
      await c.connect();
      await c.mailboxOpen('INBOX');
      return c;
    }),
  );
  const heard = idlers.map(() => 0);
  idlers.forEach((c, i) => c.on('exists', (d: { count: number }) => (heard[i] = d.count)));
  const idles = idlers.map((c) => c.idle());
  await new Promise((r) => setTimeout(r, 300));
  const writer = client(a.imap);
  await writer.connect();
  const before = ((await writer.status('INBOX', { messages: true })) as { messages?: number }).messages ?? 0;
  await writer.append('INBOX', 'From: x@example.org\r\nSubject: wake\r\n\r\nwake up\r\n');
  await writer.logout();
  const t0 = Date.now();
  while (heard.some((n) => n !== before + 1)) {
    // the embedded store's IDLE poll is 30 s: only a notify across processes is this fast
    if (Date.now() - t0 > 5000) throw new Error(`EXISTS heard: ${JSON.stringify(heard)}, want ${before + 1}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const c of idlers) {
    await c.noop();
    await c.logout();
  }
  await Promise.all(idles.map((p) => p.catch(() => undefined)));
}, 30000);

test('8 sessions over 4 processes on one mailbox at random: every view equals a fresh SELECT', async () => {
  const errors: string[] = [];
  const sessions = await Promise.all(
    Array.from({ length: SESSIONS }, async (_, n) => {
      const c = client(n % 2 ? a.imap : b.imap);
      await c.connect();
      await c.mailboxOpen('INBOX');
      return c;
    }),
  );
  const work = async (c: ImapFlow, n: number) => {
    const rnd = seededRandom(2000 + n);
    const pick = <T>(x: T[]): T => x[Math.floor(rnd() * x.length)];
    for (let i = 0; i < OPS; i++) {
      const uids = (await c.search({ all: true }, { uid: true })) || [];
      const op = rnd();
      try {
        if (op < 0.35 || !uids.length) {
          await c.append('INBOX', `From: s${n}@example.org\r\nSubject: op ${n}.${i}\r\n\r\nbody\r\n`, ['\\Seen']);
        } else if (op < 0.75) {
          const flag = pick(['\\Flagged', '\\Answered', `$Work${Math.floor(rnd() * 3)}`]);
          if (rnd() < 0.6) await c.messageFlagsAdd(String(pick(uids)), [flag], { uid: true });
          else await c.messageFlagsRemove(String(pick(uids)), [flag], { uid: true });
        } else {
          await c.messageDelete(String(pick(uids)), { uid: true });
        }
      } catch (e) {
        const err = e as Error & { responseText?: string; responseStatus?: string };
        errors.push(`session ${n} op ${i}: ${err.responseStatus ?? ''} ${err.responseText ?? err.message}`);
      }
    }
  };
  await Promise.all(sessions.map((c, n) => work(c, n)));
  expect(errors).toEqual([]);
  const fresh = client(b.imap);
  await fresh.connect();
  await fresh.mailboxOpen('INBOX');
  const want = await view(fresh);
  expect(want.length).toBeGreaterThan(0);
  expect(want.every((m) => m.modseq !== 'undefined')).toBe(true);
  for (const [n, c] of sessions.entries()) {
    await c.noop();
    expect({ n, view: await view(c) }).toEqual({ n, view: want });
    await c.logout();
  }
  await fresh.logout();
}, 120000);

test('the mailbox the sessions shared was sharded by the processes under the load', async () => {
  const store = await connectStore({ backend: 'embedded', path: join(dataDir, 'store') });
  try {
    const io = await store.ioCtx('mail', ALL_NAMESPACES);
    let compactions = 0;
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const page = await io.list(cursor, 1000);
      for (const o of page.objects.filter((x) => /^i\.[^.]+$/.test(x.oid))) {
        const h = (await (await store.ioCtx('mail', o.namespace)).omapGetByKeys(o.oid, ['h'])).get('h');
        compactions += (JSON.parse(h!.toString()) as { shardGen?: number }).shardGen ?? 0;
      }
      cursor = page.cursor;
    }
    expect(compactions).toBeGreaterThan(2);
  } finally {
    await store.close();
  }
});

test('a worker that dies is replaced; the instance keeps serving', async () => {
  const [victim] = workerPids(a);
  process.kill(victim, 'SIGKILL');
  const t0 = Date.now();
  while (workerPids(a).length < 2 || workerPids(a).includes(victim)) {
    if (Date.now() - t0 > 15000) throw new Error(`workers: ${workerPids(a).join(' ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // every connection is served (round robin reaches the new worker too)
  for (let i = 0; i < 4; i++) {
    const c = client(a.imap);
    await c.connect();
    expect(((await c.status('INBOX', { messages: true })) as { messages?: number }).messages).toBeGreaterThan(0);
    await c.logout();
  }
}, 30000);
