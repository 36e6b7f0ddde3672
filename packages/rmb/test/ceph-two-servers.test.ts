/**
 * B3: two `rmb serve` processes on the same Ceph pool and namespace. A session IDLE on server A
 * sees mail delivered through B (watch/notify) and flag changes made through B; then 4 APPEND
 * clients on each server write 2,000 mails into one mailbox concurrently: every UID unique and
 * ascending per client, MESSAGES exact, every index entry has its mail object with the bytes
 * that were appended.
 */
import { rmSync } from 'node:fs';
import { cephSuite } from '@rmb/rados/testing';
import {
  newDataDir,
  RawClient,
  startServer,
  storeSets,
  type ServerChild,
  plainImapFlow,
  lmtpTransport,
} from './harness.js';

const USERS = { alice: 'alice-pw' };
const PER_CLIENT = 250;
const CLIENTS_PER_SERVER = 4;

cephSuite('two rmb servers on one Ceph pool', () => {
  const sets = storeSets('librados');
  const dirs: string[] = [];
  let a: ServerChild;
  let b: ServerChild;
  beforeAll(async () => {
    dirs.push(newDataDir(USERS), newDataDir(USERS));
    [a, b] = await Promise.all([startServer(dirs[0], sets), startServer(dirs[1], sets)]);
  }, 120000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const imap = async (srv: ServerChild) => {
    const c = plainImapFlow(srv.imap, 'alice', USERS.alice);
    await c.connect();
    return c;
  };

  test(
    'IDLE on A gets EXISTS for mail delivered through B, and FETCH FLAGS for a flag change made ' + 'through B',
    async () => {
      const idle = await RawClient.open(a.imap);
      await idle.until(/^\* OK/m);
      idle.send('a1 LOGIN alice alice-pw\r\na2 SELECT INBOX\r\n');
      await idle.until(/^a2 OK/m);
      idle.send('a3 IDLE\r\n');
      await idle.until(/^\+ /m);

      const t = lmtpTransport(b.lmtp);
      const info = await t.sendMail({
        envelope: { from: 's@example.org', to: ['alice@example.org'] },
        raw: 'Subject: via B\r\n\r\nhello\r\n',
      });
      expect(info.accepted).toEqual(['alice@example.org']);
      await idle.until(/^\* 1 EXISTS/m, 15000);

      const cb = await imap(b);
      await cb.mailboxOpen('INBOX');
      await cb.messageFlagsAdd('1', ['\\Flagged'], { uid: true });
      await idle.until(/^\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged/m, 15000);
      await cb.logout();

      idle.send('DONE\r\na4 LOGOUT\r\n');
      await idle.until(/^a4 OK/m);
      idle.close();
    },
    60000,
  );

  test(
    '8 concurrent APPEND clients on two servers: 2,000 mails, unique ascending UIDs, exact ' +
      'MESSAGES, every object present',
    async () => {
      const body = (client: number, i: number) =>
        Buffer.from(
          `From: c${client}@example.org\r\nSubject: mail ${client}/${i}\r\nMessage-ID: ` +
            `<${client}.${i}@b3>\r\n\r\nbody of ${client}/${i}\r\n`,
        );
      const start = await imap(a);
      const before = ((await start.status('INBOX', { messages: true })) as { messages: number }).messages;
      await start.logout();

      const run = async (client: number) => {
        const c = await imap(client % 2 === 0 ? a : b);
        const uids: number[] = [];
        for (let i = 0; i < PER_CLIENT; i++) {
          const r = await c.append('INBOX', body(client, i));
          expect(r && r.uid).toBeGreaterThan(0);
          uids.push((r as { uid: number }).uid);
        }
        await c.logout();
        return uids;
      };
      const perClient = await Promise.all(Array.from({ length: 2 * CLIENTS_PER_SERVER }, (_, i) => run(i)));
      const all = perClient.flat();
      expect(all.length).toBe(2 * CLIENTS_PER_SERVER * PER_CLIENT);
      expect(new Set(all).size).toBe(all.length);
      for (const uids of perClient) expect(uids).toEqual([...uids].sort((x, y) => x - y));

      // both servers report the exact count; every index entry's object holds the appended bytes
      for (const srv of [a, b]) {
        const c = await imap(srv);
        const st = await c.status('INBOX', { messages: true });
        expect((st as { messages: number }).messages).toBe(before + all.length);
        await c.logout();
      }
      const byUid = new Map<number, Buffer>();
      perClient.forEach((uids, client) => uids.forEach((uid, i) => byUid.set(uid, body(client, i))));
      const c = await imap(b);
      const lock = await c.getMailboxLock('INBOX');
      const seen: number[] = [];
      for await (const m of c.fetch('1:*', { uid: true, source: true })) {
        seen.push(m.uid);
        const want = byUid.get(m.uid);
        if (want) expect(m.source!.equals(want)).toBe(true);
      }
      lock.release();
      await c.logout();
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      expect(seen.filter((u) => byUid.has(u)).length).toBe(all.length);
    },
    300000,
  );
});
