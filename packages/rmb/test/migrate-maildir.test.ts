/**
 * Issue 12, M4 and M5: a Maildir tree made by a real Dovecot (`mail_location = maildir:`), with
 * flags, keywords, dates, nested and non-ASCII folders and subscriptions, migrated from disk; the
 * checks of M1 against the same Dovecot over IMAP, with the UIDs of dovecot-uidlist. Then the
 * test breaks rmb (one byte of a mail object, one index entry, one flag) and `verify --level 2`
 * must exit non-zero naming each.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@rmb/rados';
import { MailStore, layout } from '@rmb/librmb';
import type { ImapFlow } from 'imapflow';
import {
  corpusFiles,
  dovecotSuite,
  lmtpTransport,
  newDataDir,
  plainImapFlow,
  startDovecot,
  startServer,
  type ReferenceDovecot,
  type ServerChild,
} from './harness.js';
import { expectSameAccount, imapView, migrateCli, outcomes, tearDown, withImap } from './migrate-helpers.js';

dovecotSuite('migration from a Maildir tree made by Dovecot (issue 12: M4, M5)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let srv: ServerChild | undefined;

  const withDovecot = <T>(fn: (c: ImapFlow) => Promise<T>) => withImap(dv.imap, 'carol', 'carol-pw', fn);

  beforeAll(async () => {
    dv = await startDovecot({ carol: 'carol-pw' }, ['--maildir']);
    const corpus = corpusFiles().filter((_, i) => i % 4 === 0);
    const t = lmtpTransport(dv.lmtp, { pool: true });
    for (const f of corpus.slice(0, 60))
      await t.sendMail({ envelope: { from: 'x@example.org', to: ['carol'] }, raw: f.data });
    t.close();
    await withDovecot(async (c) => {
      for (const n of ['Sent', 'Drafts', 'Projekte/Überfällig', 'Projekte/2019', 'Reisen Italien'])
        await c.mailboxCreate(n);
      for (const n of ['Sent', 'Projekte/Überfällig']) await c.mailboxSubscribe(n);
      const boxes = ['INBOX', 'Sent', 'Drafts', 'Projekte/Überfällig', 'Projekte/2019', 'Reisen Italien'];
      const kw: string[][] = [
        [],
        ['\\Seen'],
        ['\\Seen', '$Forwarded'],
        ['\\Flagged', 'Wichtig'],
        ['\\Answered', '\\Seen'],
      ];
      for (let i = 60; i < corpus.length; i++) {
        const date = new Date(Date.UTC(2005 + (i % 15), i % 12, 1 + (i % 27), i % 24, i % 60, (i * 7) % 60));
        await c.append(boxes[i % boxes.length], corpus[i].data, kw[i % kw.length], date);
      }
      await c.mailboxOpen('INBOX');
      await c.messageFlagsAdd('1:20', ['$Label3', '\\Seen'], { uid: true });
      await c.messageDelete('3,7', { uid: true });
    });
    dataDir = newDataDir({ carol: 'rmb-pw' });
    writeFileSync(join(dataDir, 'users.csv'), 'source_user,rmb_user,auth\ncarol,carol,none\n');
  }, 300000);

  afterAll(() => tearDown(srv, dv, dataDir));

  test('M4: migrated from disk with the UIDs of dovecot-uidlist; equal to Dovecot over IMAP', async () => {
    const root = join(dv.dir, 'home', 'carol', 'Maildir');
    const uidlist = readFileSync(join(root, 'dovecot-uidlist'), 'utf8');
    const [, uv, next] = /^3 V(\d+) N(\d+)/.exec(uidlist)!;
    const source = `maildir:${join(dv.dir, 'home')}/%u/Maildir`;
    expect((await migrateCli(dataDir, ['users', 'import', join(dataDir, 'users.csv'), '--source', source])).code).toBe(
      0,
    );
    const sync = await migrateCli(dataDir, ['sync', '--json']);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const verify = await migrateCli(dataDir, ['verify', '--level', '2']);
    expect(verify.stdout).toMatch(/1 verified; exit 0/);
    srv = await startServer(dataDir);
    const want = await withDovecot(imapView);
    const c = plainImapFlow(srv.imap, 'carol', 'rmb-pw');
    await c.connect();
    const got = await imapView(c);
    await c.logout();
    expect(want.folders['INBOX']).toMatchObject({ uidvalidity: Number(uv), uidnext: Number(next) });
    expect(want.folders['INBOX'].messages.some((m) => m.flags.includes('$Label3'))).toBe(true);
    expect(want.folders['Projekte/Überfällig'].subscribed).toBe(true);
    expectSameAccount(want, got);
    // a second run from disk changes nothing
    const again = await migrateCli(dataDir, ['sync', '--json']);
    const counters = (outcomes(again).carol as { detail: { counters: Record<string, number> } }).detail.counters;
    expect(counters).toMatchObject({ copied: 0, flagsChanged: 0, expunged: 0, foldersCreated: 0 });
  }, 300000);

  test('M5: the verifier names a changed byte, a missing index entry and a changed flag; exit non-zero', async () => {
    await srv?.stop();
    srv = undefined;
    const cluster = await connect({ backend: 'embedded', path: join(dataDir, 'store') });
    const store = await MailStore.open(cluster);
    const u = await store.user('carol');
    const inbox = await u.mailbox('INBOX');
    const [e1, e2, e3] = await inbox.entries();
    const b = await u.messageBytes(e1, 10, 1);
    await u.io.write(e1.mail, Buffer.from([b[0] ^ 0x20]), 10);
    await u.io.omapRm(layout.indexOid(inbox.id), [layout.uidKey(e2.uid)]);
    await inbox.store([e3.uid], e3.flags.includes('\\Flagged') ? 'remove' : 'add', ['\\Flagged']);
    await cluster.close();
    const verify = await migrateCli(dataDir, ['verify', '--level', '2']);
    expect(verify.code).toBe(65);
    expect(verify.stdout).toContain(`content: INBOX UID ${e1.uid}: SHA-256 differs`);
    expect(verify.stdout).toContain(`missing: INBOX UID ${e2.uid}: not in rmb`);
    expect(verify.stdout).toMatch(new RegExp(`flags: INBOX UID ${e3.uid}: source .*, rmb .*`));
    const report = await migrateCli(dataDir, ['report', '--format', 'json']);
    const r = JSON.parse(report.stdout) as { users: { state: { verify: { differences: Record<string, number> } } }[] };
    expect(r.users[0].state.verify.differences).toEqual({ content: 1, missing: 1, flags: 1 });
    // level 1 sees the index entry and the flag, not the byte
    const l1 = await migrateCli(dataDir, ['verify', '--level', '1']);
    expect(l1.code).toBe(65);
    expect(l1.stdout).not.toContain('content:');
  }, 120000);
});
