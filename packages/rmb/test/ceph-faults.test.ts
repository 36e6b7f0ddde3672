/**
 * B4: faults on a real Ceph cluster of the test's own (scripts/ceph-local.sh), with rmb serve on it.
 *  - Issue 15 O2: 3 OSDs, pool size 3, min_size 2: one OSD killed under load goes unnoticed by the
 *    clients; two stopped give NO [UNAVAILABLE] / 451 4.3.0; when they return work goes on by itself.
 *  - OSD stopped (bluestore, so its data survives a restart): APPEND answers NO [UNAVAILABLE] and
 *    LMTP 451 4.3.0 within the op timeout, the server stays up, and once the OSD is back work
 *    resumes without a restart and every acknowledged mail is there, byte for byte.
 *  - Cluster full (full ratio lowered below the usage): APPEND answers NO [OVERQUOTA] and LMTP
 *    452 4.3.1 without waiting on the cluster, EXPUNGE still goes through and removes objects,
 *    and saving works again once the cluster has room.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cephSuite } from '@rmb/rados/testing';
import { newDataDir, RawClient, repoRoot, startServer, type ServerChild, plainImapFlow } from './harness.js';

const script = join(repoRoot, 'scripts', 'ceph-local.sh');
const OP_TIMEOUT_MS = 3000;
const USERS = { alice: 'alice-pw' };

function cluster(args: string[]): string {
  return execFileSync(script, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function ceph(dir: string, ...args: string[]): string {
  return execFileSync('ceph', ['-c', join(dir, 'ceph.conf'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` every 500 ms until it returns true, for at most `ms`. */
async function eventually(what: string, ms: number, fn: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/**
 * One LMTP transaction on a fresh connection; resolves with the reply to the final dot, or with
 * the refusal of the recipient when RCPT is refused (a store that cannot be read fails the route
 * lookup at RCPT: 451 4.3.0 there, before any data is sent).
 */
async function lmtp(port: number, rcpt: string, body: string): Promise<string> {
  const c = await RawClient.open(port);
  try {
    await c.until(/^220 /m, 10000);
    c.send('LHLO test\r\n');
    await c.until(/^250 /m);
    c.send(`MAIL FROM:<s@example.org>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    const go = await c.until(/^(354|[45]\d\d) .*\r\n/m, 60000);
    const refused = /^[45]\d\d .*$/m.exec(go);
    if (refused && !/^354 /m.test(go)) {
      c.send('QUIT\r\n');
      return refused[0].trim();
    }
    c.send(`${body}.\r\n`);
    const reply = await c.until(/^\d{3} .*\r\n/m, 60000);
    c.send('QUIT\r\n');
    return reply.trim();
  } finally {
    c.close();
  }
}

/** A logged-in raw IMAP session (RawClient.tagged gives the exact tagged response). */
async function imapRaw(port: number): Promise<RawClient> {
  const c = await RawClient.greeted(port, 't');
  c.commandTimeoutMs = 120000;
  expect(await c.tagged('LOGIN alice alice-pw')).toMatch(/OK/);
  return c;
}

const mail = (id: string, pad = 0) =>
  `From: a@example.org\r\nSubject: ${id}\r\nMessage-ID: <${id}@b4>\r\n\r\nbody ` +
  `${id}\r\n${'x'.repeat(pad)}${pad ? '\r\n' : ''}`;

/** Every mail in `acked` (Message-ID local part -> bytes) is in alice's INBOX with exactly those bytes. */
async function allThere(srv: ServerChild, acked: Map<string, string>): Promise<void> {
  const f = plainImapFlow(srv.imap, 'alice', USERS.alice);
  await f.connect();
  const lock = await f.getMailboxLock('INBOX');
  const found = new Map<string, Buffer>();
  for await (const m of f.fetch('1:*', { source: true, envelope: true }))
    found.set(m.envelope!.messageId!.replace(/[<>]|@b4/g, ''), m.source!);
  lock.release();
  await f.logout();
  for (const [id, bytes] of acked)
    expect({ id, same: found.get(id)?.equals(Buffer.from(bytes)) }).toEqual({ id, same: true });
}

cephSuite('faults on a private Ceph cluster', () => {
  const dirs: string[] = [];
  const servers: ServerChild[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) {
      try {
        cluster(['stop', d]);
      } catch {
        /* already stopped */
      }
      rmSync(d, { recursive: true, force: true });
    }
  }, 120000);

  async function setup(store: string[], opTimeoutMs = OP_TIMEOUT_MS): Promise<{ dir: string; srv: ServerChild }> {
    const dir = join(mkdtempSync(join(tmpdir(), 'rmb-fault-')), 'ceph');
    dirs.push(dir);
    cluster(['start', dir, ...store]);
    const data = newDataDir(USERS);
    dirs.push(data);
    const srv = await startServer(data, [
      'store.backend=librados',
      `store.ceph.conf=${join(dir, 'ceph.conf')}`,
      'store.pool=mail',
      `store.ceph.opTimeoutMs=${opTimeoutMs}`,
      'store.ceph.fullCheckIntervalMs=1000',
    ]);
    servers.push(srv);
    return { dir, srv };
  }

  test(
    'OSD stopped: NO [UNAVAILABLE] and 451 4.3.0 within the timeout; after restart nothing ' + 'acknowledged is lost',
    async () => {
      const { dir, srv } = await setup(['--store', 'bluestore', '--size', '1024']);
      const acked = new Map<string, string>(); // Message-ID -> the bytes the server must hold
      const c = await imapRaw(srv.imap);
      for (let i = 0; i < 5; i++) {
        expect(await c.tagged('APPEND INBOX', mail(`before-a${i}`))).toMatch(/^t\d+ OK/);
        acked.set(`before-a${i}`, mail(`before-a${i}`));
        expect(await lmtp(srv.lmtp, 'alice@example.org', mail(`before-l${i}`))).toMatch(/^250 /);
        acked.set(
          `before-l${i}`,
          `Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\n${mail(`before-l${i}`)}`,
        );
      }
      expect(await c.tagged('SELECT INBOX')).toMatch(/OK/);

      cluster(['osd', 'stop', dir, '0']);
      let t = Date.now();
      expect(await c.tagged('APPEND INBOX', mail('during-a'))).toMatch(/^t\d+ NO \[UNAVAILABLE\]/);
      expect(Date.now() - t).toBeLessThan(2 * OP_TIMEOUT_MS + 2000);
      t = Date.now();
      expect(await lmtp(srv.lmtp, 'alice@example.org', mail('during-l'))).toMatch(/^451 4\.3\.0 /);
      expect(Date.now() - t).toBeLessThan(2 * OP_TIMEOUT_MS + 2000);
      expect(srv.proc.exitCode).toBeNull();
      expect(await c.tagged('CAPABILITY')).toMatch(/OK/);

      cluster(['osd', 'start', dir, '0']);
      // the same session and server: work resumes once the OSD is up again
      let reply = '';
      await eventually('APPEND to work again', 90000, async () => {
        reply = await c.tagged('APPEND INBOX', mail('after-a'));
        return /^t\d+ OK/.test(reply);
      });
      acked.set('after-a', mail('after-a'));
      expect(await lmtp(srv.lmtp, 'alice@example.org', mail('after-l'))).toMatch(/^250 /);
      acked.set('after-l', `Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\n${mail('after-l')}`);
      c.close();
      await allThere(srv, acked);
      await srv.stop();
    },
    300000,
  );

  test(
    'O2: 3 OSDs, pool size 3 / min_size 2: one OSD killed under IMAP and LMTP load, no client error; ' +
      'two stopped: NO [UNAVAILABLE] and 451 4.3.0; back, everything goes on by itself, nothing lost',
    async () => {
      const OP_MS = 20000; // above the time the monitors take to mark a killed OSD down (about 4 s)
      const { dir, srv } = await setup(
        ['--osds', '3', '--replicas', '3', '--store', 'bluestore', '--size', '1024'],
        OP_MS,
      );
      expect(ceph(dir, 'osd', 'pool', 'get', 'mail', 'size')).toMatch(/size: 3/);
      const acked = new Map<string, string>();
      const c = await imapRaw(srv.imap);
      const delivered = (id: string) =>
        `Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\n${mail(id)}`;
      // the load: APPEND and LMTP in turn; every answer must be OK / 250
      const load = async (tag: string, n: number) => {
        const answers: string[] = [];
        for (let i = 0; i < n; i++) {
          const a = await c.tagged('APPEND INBOX', mail(`${tag}-a${i}`));
          answers.push(a);
          if (/^t\d+ OK/.test(a)) acked.set(`${tag}-a${i}`, mail(`${tag}-a${i}`));
          const l = await lmtp(srv.lmtp, 'alice@example.org', mail(`${tag}-l${i}`));
          answers.push(l);
          if (/^250 /.test(l)) acked.set(`${tag}-l${i}`, delivered(`${tag}-l${i}`));
        }
        return answers.filter((x) => !/^(t\d+ OK|250 )/.test(x));
      };
      expect(await load('before', 5)).toEqual([]);
      // one OSD killed in the middle of the load: the clients see no error
      const running = load('one-down', 30);
      const oneDown = () => [...acked.keys()].filter((k) => k.startsWith('one-down')).length;
      while (oneDown() < 4) await sleep(10); // the load is under way
      cluster(['osd', 'kill', dir, '2']);
      const atKill = oneDown();
      expect(await running).toEqual([]);
      expect(oneDown() - atKill).toBeGreaterThan(20); // most of the load ran with the OSD dead
      // a second one stopped: under min_size, writes wait and fail after the op timeout
      cluster(['osd', 'stop', dir, '1']);
      expect(await c.tagged('APPEND INBOX', mail('two-down-a'))).toMatch(/^t\d+ NO \[UNAVAILABLE\]/);
      expect(await lmtp(srv.lmtp, 'alice@example.org', mail('two-down-l'))).toMatch(/^451 4\.3\.0 /);
      expect(srv.proc.exitCode).toBeNull();
      // both back: the same server and session go on without a restart
      cluster(['osd', 'start', dir, '1']);
      cluster(['osd', 'start', dir, '2']);
      await eventually('APPEND to work again', 120000, async () => {
        const r = await c.tagged('APPEND INBOX', mail('back-a'));
        if (/^t\d+ OK/.test(r)) acked.set('back-a', mail('back-a'));
        return /^t\d+ OK/.test(r);
      });
      expect(await load('after', 5)).toEqual([]);
      c.close();
      await allThere(srv, acked);
      await srv.stop();
    },
    600000,
  );

  test(
    'cluster full: NO [OVERQUOTA] and 452 4.3.1 at once, EXPUNGE still frees space, saving ' +
      'resumes when there is room',
    async () => {
      const { dir, srv } = await setup(['--store', 'memstore', '--size', '256']);
      const c = await imapRaw(srv.imap);
      for (let i = 0; i < 30; i++)
        expect(await c.tagged('APPEND INBOX', mail(`fill${i}`, 1 << 20))).toMatch(/^t\d+ OK/);
      // mail objects in the pool (every namespace): "<namespace>\tm.<uuid>" lines of rados ls
      const objects = () =>
        execFileSync('rados', ['-c', join(dir, 'ceph.conf'), '-p', 'mail', 'ls', '--all'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .split('\n')
          .filter((l) => /\tm\./.test(l)).length;
      expect(objects()).toBe(30);

      for (const [cmd, v] of [
        ['set-nearfull-ratio', '0.05'],
        ['set-backfillfull-ratio', '0.08'],
        ['set-full-ratio', '0.1'],
      ])
        ceph(dir, 'osd', cmd, v);
      await eventually('the OSD to be flagged full', 60000, () => /full osd/.test(ceph(dir, 'health')));
      await eventually('rmb to refuse new mail', 30000, async () =>
        /NO \[OVERQUOTA\]/.test(await c.tagged('APPEND INBOX', mail('probe'))),
      );

      let t = Date.now();
      expect(await c.tagged('APPEND INBOX', mail('full-a'))).toMatch(/^t\d+ NO \[OVERQUOTA\]/);
      expect(Date.now() - t).toBeLessThan(OP_TIMEOUT_MS / 2);
      t = Date.now();
      expect(await lmtp(srv.lmtp, 'alice@example.org', mail('full-l'))).toMatch(/^452 4\.3\.1 /);
      expect(Date.now() - t).toBeLessThan(OP_TIMEOUT_MS / 2);

      expect(await c.tagged('SELECT INBOX')).toMatch(/OK/);
      const stored = objects(); // 30, plus any probe saved before rmb saw the full flag
      expect(await c.tagged('STORE 1:20 +FLAGS.SILENT (\\Deleted)')).toMatch(/^t\d+ OK/);
      expect(await c.tagged('EXPUNGE')).toMatch(/^t\d+ OK/);
      await eventually('expunged mail objects to be removed', 30000, () => objects() === stored - 20);

      for (const [cmd, v] of [
        ['set-full-ratio', '0.95'],
        ['set-backfillfull-ratio', '0.9'],
        ['set-nearfull-ratio', '0.85'],
      ])
        ceph(dir, 'osd', cmd, v);
      await eventually('saving to work again', 60000, async () =>
        /^t\d+ OK/.test(await c.tagged('APPEND INBOX', mail('room-again'))),
      );
      expect(await lmtp(srv.lmtp, 'alice@example.org', mail('room-l'))).toMatch(/^250 /);
      c.close();
      await srv.stop();
    },
    300000,
  );
});
