/**
 * Issue 12, M3: `kill -9` of `rmb migrate sync` at three different points of a 5,000-message sync
 * from a real Dovecot: after a chunk's objects are written and before its index commit, after
 * the commit and before its journal is cleared (both by the RMB_MIGRATE_FAILPOINT fault
 * injection), and from outside at an arbitrary moment; then a rerun. rmb must equal the source
 * (compared over IMAP), with no duplicate, no message missing and no orphan mail object.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type IoCtx } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import {
  corpusFiles,
  dovecotSuite,
  lmtpTransport,
  newDataDir,
  startDovecot,
  startServer,
  type ReferenceDovecot,
  type ServerChild,
} from './harness.js';
import { expectSameAccount, imapView, migrateCli, tearDown, withImap } from './migrate-helpers.js';

const TOTAL = 5000;

/** Mail objects (stripe 0) and index entries of a user in the embedded store of `dataDir`. */
async function objectsAndEntries(dataDir: string, user: string): Promise<{ objects: number; entries: number }> {
  const cluster = await connect({ backend: 'embedded', path: join(dataDir, 'store') });
  try {
    const store = await MailStore.open(cluster);
    const u = await store.user(user);
    const io: IoCtx = u.io;
    let objects = 0;
    let cursor: string | undefined;
    do {
      const page = await io.list(cursor, 1000);
      objects += page.objects.filter((o) => /^m\.[0-9a-f-]+$/.test(o.oid)).length;
      cursor = page.cursor;
    } while (cursor);
    let entries = 0;
    for (const b of await u.mailboxes()) entries += (await u.mailboxOf(b).counters()).messages;
    return { objects, entries };
  } finally {
    await cluster.close();
  }
}

dovecotSuite('migration killed with -9 and run again (issue 12: M3)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let srv: ServerChild | undefined;
  const env = { DV_PW: 'dan-pw' };

  beforeAll(async () => {
    dv = await startDovecot({ dan: 'dan-pw' });
    const corpus = corpusFiles();
    const t = lmtpTransport(dv.lmtp, { pool: true, maxConnections: 4, maxMessages: Infinity });
    for (let i = 0; i < TOTAL; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TOTAL - i) }, (_, k) =>
          t.sendMail({ envelope: { from: 'x@example.org', to: ['dan'] }, raw: corpus[(i + k) % corpus.length].data }),
        ),
      );
    }
    t.close();
    await withImap(dv.imap, 'dan', 'dan-pw', async (c) => {
      await c.mailboxOpen('INBOX');
      await c.messageFlagsAdd('1:*', ['$Seen2'], { uid: true });
      await c.messageMove('4001:*', 'Later', { uid: true }).catch(async () => {
        await c.mailboxCreate('Later');
        await c.messageMove('4001:*', 'Later', { uid: true });
      });
    });
    dataDir = newDataDir({ dan: 'rmb-pw' });
    writeFileSync(join(dataDir, 'users.csv'), 'source_user,rmb_user,auth,secret\ndan,dan,password,env:DV_PW\n');
    const src = `imap://127.0.0.1:${dv.imap}`;
    expect((await migrateCli(dataDir, ['users', 'import', join(dataDir, 'users.csv'), '--source', src])).code).toBe(0);
  }, 600000);

  afterAll(() => tearDown(srv, dv, dataDir));

  test('M3: three kills, then a rerun: equal to the source, no duplicate, nothing missing, no orphan', async () => {
    const copied: number[] = [];
    // 1. killed after the objects of its 5th chunk were written, before that chunk's index commit
    const r1 = await migrateCli(dataDir, ['sync', '--json'], { ...env, RMB_MIGRATE_FAILPOINT: 'before-commit:5' });
    expect(r1.code).toBeNull();
    copied.push((await objectsAndEntries(dataDir, 'dan')).entries);
    // 2. killed after its 4th chunk's index commit, before its journal was cleared
    const r2 = await migrateCli(dataDir, ['sync', '--json'], { ...env, RMB_MIGRATE_FAILPOINT: 'after-commit:4' });
    expect(r2.code).toBeNull();
    copied.push((await objectsAndEntries(dataDir, 'dan')).entries);
    // 3. killed from outside once it has copied 1,000 more messages, wherever it is then
    const r3 = await migrateCli(dataDir, ['sync', '--json'], env, [], (line, kill) => {
      if (line.includes('"type":"progress"') && (JSON.parse(line) as { copied: number }).copied >= 1000) kill();
    });
    expect(r3.code).toBeNull();
    copied.push((await objectsAndEntries(dataDir, 'dan')).entries);
    // each killed run got further, none finished
    expect(copied[0]).toBeGreaterThan(0);
    expect(copied[1]).toBeGreaterThan(copied[0]);
    expect(copied[2]).toBeGreaterThan(copied[1]);
    expect(copied[2]).toBeLessThan(TOTAL);
    // the rerun: the dead runs' leases are taken over, their journals cleaned up
    const r4 = await migrateCli(dataDir, ['sync', '--json'], env);
    expect(r4.stderr).toBe('');
    expect(r4.code).toBe(0);
    const { objects, entries } = await objectsAndEntries(dataDir, 'dan');
    expect(entries).toBe(TOTAL);
    expect(objects).toBe(TOTAL);
    const verify = await migrateCli(dataDir, ['verify', '--level', '2'], env);
    expect(verify.stdout).toMatch(/1 verified; exit 0/);
    srv = await startServer(dataDir);
    const source = await withImap(dv.imap, 'dan', 'dan-pw', imapView);
    const rmb = await withImap(srv.imap, 'dan', 'rmb-pw', imapView);
    expectSameAccount(source, rmb);
    const all = Object.values(rmb.folders).flatMap((f) => f.messages);
    expect(all.length).toBe(TOTAL);
  }, 600000);
});
