/**
 * B6: RADOS operations per LMTP delivery, APPEND, SELECT, FETCH and STORE, counted through a
 * SteppedCluster (every operation held until released in waves, so overlapping operations share
 * a wave) and checked against the table in docs/cost-model.md. Runs on the memory store and,
 * when a cluster is configured, on Ceph: the counts are the model's, not a backend's.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { connect, type Cluster } from '@rmb/rados';
import { cephFromEnv } from '@rmb/rados/testing';
import { cephSuite, SteppedCluster, type SteppedOp } from '@rmb/rados/testing';
import { MailStore } from '@rmb/librmb';
import { createImapServer } from '@rmb/imap';
import { createLmtpServer } from '@rmb/lmtp';
import { DEFAULTS } from '../src/config.js';
import { RawClient, repoRoot } from './harness.js';

/** Rows of the cost table: id -> [serial round trips, ops before the reply, ops after it]. */
function costTable(): Map<string, [number, number, number]> {
  const md = readFileSync(join(repoRoot, 'docs', 'cost-model.md'), 'utf8');
  const rows = new Map<string, [number, number, number]>();
  for (const m of md.matchAll(/^\| `([\w-]+)` \|[^|]*\| (\d+) \| (\d+) \| (\d+) \|/gm))
    rows.set(m[1], [Number(m[2]), Number(m[3]), Number(m[4])]);
  return rows;
}

/** Time the reply gets to arrive before held operations are taken as part of its path. */
const GRACE_MS = 250;

interface Measured {
  serial: number;
  beforeReply: SteppedOp[];
  background: SteppedOp[];
}

/**
 * Run `action` (which resolves when the client has its reply) with operations held; release
 * them wave by wave while the reply is outstanding, then release and count what follows.
 */
async function measure(c: SteppedCluster, action: () => Promise<unknown>): Promise<Measured> {
  c.holding = true;
  let done = false;
  const replied = action().finally(() => {
    done = true;
  });
  const settled = replied.then(
    () => false,
    () => false,
  );
  const out: Measured = { serial: 0, beforeReply: [], background: [] };
  while (!done) {
    const more = await Promise.race([c.waitForOps(GRACE_MS), settled]);
    if (done) break;
    if (!more) continue;
    // an op is held: give the reply a moment in case it does not depend on it
    await Promise.race([new Promise((r) => setTimeout(r, GRACE_MS)), settled]);
    if (done) break;
    out.serial++;
    out.beforeReply.push(...(await c.releaseWave()));
  }
  await replied;
  while (await c.waitForOps(GRACE_MS)) out.background.push(...(await c.releaseWave()));
  c.holding = false;
  return out;
}

function costSuite(name: string, open: () => Promise<Cluster>, pool: string): void {
  describe(`cost model on ${name}`, () => {
    let stepped: SteppedCluster;
    let imap: Server;
    let lmtp: ReturnType<typeof createLmtpServer>;
    let imapPort: number;
    let lmtpPort: number;
    const user = `cost-${Date.now()}`;
    const results = new Map<string, Measured>();
    const table = costTable();

    beforeAll(async () => {
      stepped = new SteppedCluster(await open());
      const log = pino({ level: 'silent' });
      const opts = { pool, namespace: `cost-${process.pid}-${Date.now()}.`, log };
      // the user exists (made by "another front end"); this server's caches start cold
      await (await MailStore.open(stepped.inner, opts)).user(user);
      const store = await MailStore.open(stepped, opts);
      await store.check(); // as `rmb serve` does at start (it primes the user directory's shard count)
      imap = createImapServer({
        store,
        authenticate: async (u) => u,
        plaintextAllowed: () => true,
        // the route check is per front end and second, not per command (docs/cost-model.md): kept out of the window
        limits: { ...DEFAULTS.imap, routeCheckMs: 3_600_000 },
        log,
        serverName: 'rmb',
      });
      await new Promise<void>((r) => imap.listen(0, '127.0.0.1', r));
      imapPort = (imap.address() as AddressInfo).port;
      lmtp = createLmtpServer({
        store,
        lookupUser: async (a) => a.split('@')[0],
        maxMessageBytes: 1 << 20,
        maxClients: 10,
        maxClientsPerAddress: 10,
        idleTimeoutMs: 60000,
        serverName: 'rmb',
        log,
      });
      await new Promise<void>((r) => (lmtp.server as unknown as Server).listen(0, '127.0.0.1', r));
      lmtpPort = ((lmtp.server as unknown as Server).address() as AddressInfo).port;
    }, 60000);
    afterAll(async () => {
      imap?.close();
      await new Promise<void>((r) => (lmtp ? lmtp.close(() => r()) : r()));
      await stepped?.close();
    });

    const mail = (n: number) =>
      `From: a@example.org\r\nTo: ${user}@example.org\r\nSubject: cost ${n}\r\n\r\nbody ${n}\r\n`;

    test('LMTP delivery: first to an existing user since start, then steady state', async () => {
      const c = await RawClient.open(lmtpPort);
      await c.until(/^220 /m);
      c.send('LHLO test\r\n');
      await c.until(/^250 /m);
      const deliver = async (n: number) => {
        c.send(`MAIL FROM:<a@example.org>\r\nRCPT TO:<${user}@example.org>\r\nDATA\r\n`);
        await c.until(/^354 /m);
        return measure(stepped, async () => {
          c.send(`${mail(n)}.\r\n`);
          await c.until(/^250 /m);
        });
      };
      results.set('lmtp-first', await deliver(1));
      results.set('lmtp', await deliver(2));
      c.send('QUIT\r\n');
      c.close();
    }, 60000);

    test('IMAP: APPEND, SELECT, FETCH FLAGS, FETCH BODY[], FETCH ENVELOPE, STORE', async () => {
      const c = await RawClient.open(imapPort);
      await c.until(/^\* OK/m);
      c.send(`a LOGIN ${user} pw\r\n`);
      await c.until(/^a OK/m);
      const cmd = (tag: string, line: string) =>
        measure(stepped, async () => {
          c.send(line);
          await c.until(new RegExp(`^${tag} OK`, 'm'));
        });
      const m3 = mail(3);
      results.set('append-first', await cmd('b', `b APPEND Drafts {${m3.length}+}\r\n${m3}\r\n`));
      results.set('append', await cmd('c', `c APPEND Drafts {${m3.length}+}\r\n${m3}\r\n`));
      results.set('select', await cmd('d', 'd SELECT INBOX\r\n'));
      results.set('fetch-flags', await cmd('e', 'e FETCH 1:* (FLAGS)\r\n'));
      results.set('fetch-body', await cmd('f', 'f FETCH 1 (BODY.PEEK[])\r\n'));
      results.set('fetch-envelope', await cmd('g', 'g FETCH 2 (ENVELOPE)\r\n'));
      results.set('store', await cmd('h', 'h STORE 1 +FLAGS (\\Flagged)\r\n'));
      c.send('z LOGOUT\r\n');
      await c.until(/^z OK/m);
      c.close();
    }, 60000);

    test("every count matches docs/cost-model.md, and a save takes fewer than rbox's 3 serial round trips", () => {
      const seen: Record<string, unknown> = {};
      for (const [id, m] of results) {
        seen[id] = [
          m.serial,
          m.beforeReply.length,
          m.background.length,
          m.beforeReply.map((o) => `${o.method} ${o.oid.slice(0, 2)}`).join(', '),
          m.background.map((o) => `${o.method} ${o.oid.slice(0, 2)}`).join(', '),
        ];
      }
      const want: Record<string, unknown> = {};
      for (const id of results.keys()) {
        const row = table.get(id);
        const got = seen[id] as unknown[];
        want[id] = row ? [...row, got[3], got[4]] : 'missing from docs/cost-model.md';
      }
      expect(seen).toEqual(want);
      expect(results.get('lmtp')!.serial).toBeLessThan(3);
      expect(results.get('append')!.serial).toBeLessThan(3);
    });
  });
}

costSuite('the memory store', () => connect({ backend: 'memory' }), 'mail');
const ceph = cephFromEnv();
cephSuite('cost model on Ceph', () => costSuite('Ceph', () => connect(ceph!), ceph?.pool ?? 'mail'));
