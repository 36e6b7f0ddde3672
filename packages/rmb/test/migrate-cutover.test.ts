/**
 * Issue 13, C2, C3 and C4 against a real Dovecot, rmb in front of it from the start:
 * - C2: while a sender delivers through rmb's LMTP at 20 mails/s (retrying every 4xx) and an
 *   imapflow client with QRESYNC is logged in (proxied to Dovecot), `rmb migrate cutover` freezes,
 *   syncs, verifies and flips the user: every mail answered 250 is in rmb exactly once; the
 *   client reconnects to rmb with its saved UIDVALIDITY and modseq still valid, and what it must
 *   download is exactly the mail that arrived meanwhile.
 * - C3: after new mail, a flag change and an expunge in rmb, `rmb migrate rollback` puts the user
 *   on Dovecot again with them (the expunged one marked \Deleted there).
 * - C4: a cut-over whose verification fails (the test breaks a copied mail in rmb) routes the
 *   user back to `source` by itself, and the report says why.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { connect } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import { dovecotSuite, lmtpTransport, newDataDir, startDovecot, startServer } from './harness.js';
import type { ReferenceDovecot, ServerChild } from './harness.js';
import { migrateCli, withImap } from './migrate-helpers.js';

const env = { SRC_PW: 'pw' };
const mail = (subject: string) =>
  Buffer.from(
    `From: s@example.org\r\nTo: mover@example.org\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${subject}@test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody of ${subject}\r\n`,
  );

/** One LMTP delivery: the reply code for the recipient (0 when the connection failed). */
async function deliverOnce(port: number, rcpt: string, raw: Buffer): Promise<number> {
  const t = lmtpTransport(port);
  try {
    const info = (await t.sendMail({ envelope: { from: 's@example.org', to: [rcpt] }, raw })) as {
      rejectedErrors?: { responseCode: number }[];
    };
    return info.rejectedErrors?.[0]?.responseCode ?? 250;
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? 0;
  } finally {
    t.close();
  }
}

/** Subjects of every message of INBOX through an IMAP session on `port`, uid -> subject. */
const subjectsByUid = (port: number, user: string) =>
  withImap(port, user, 'pw', async (c) => {
    await c.mailboxOpen('INBOX');
    const out = new Map<number, string>();
    for await (const m of c.fetch('1:*', { uid: true, envelope: true })) out.set(m.uid, m.envelope?.subject ?? '');
    return out;
  });

function qresyncClient(port: number): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    qresync: true,
    auth: { user: 'mover', pass: 'pw' },
    logger: false,
  });
}

dovecotSuite('cut-over under load, rollback, failed verification (issue 13: C2, C3, C4)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let srv: ServerChild;

  beforeAll(async () => {
    dv = await startDovecot({ mover: 'pw', broken: 'pw' });
    for (let i = 0; i < 30; i++) expect(await deliverOnce(dv.lmtp, 'mover', mail(`before-${i}`))).toBe(250);
    for (let i = 0; i < 10; i++) expect(await deliverOnce(dv.lmtp, 'broken', mail(`broken-${i}`))).toBe(250);
    dataDir = newDataDir({ mover: 'pw', broken: 'pw' });
    srv = await startServer(dataDir);
    const csv = join(dataDir, 'users.csv');
    writeFileSync(
      csv,
      'source_user,rmb_user,auth,secret\nmover,mover,password,env:SRC_PW\nbroken,broken,password,env:SRC_PW\n',
    );
    expect((await migrateCli(dataDir, ['users', 'import', csv, '--source', `imap://127.0.0.1:${dv.imap}`])).code).toBe(
      0,
    );
    for (const u of ['mover', 'broken']) {
      const set = await migrateCli(dataDir, [
        'route',
        'set',
        u,
        'source',
        '--imap',
        `imap://127.0.0.1:${dv.imap}`,
        '--delivery',
        `lmtp://127.0.0.1:${dv.lmtp}`,
      ]);
      expect(set.code).toBe(0);
    }
    const sync = await migrateCli(dataDir, ['sync', '--json'], env);
    expect(sync.code).toBe(0);
  }, 120000);
  afterAll(async () => {
    await srv?.stop();
    await dv?.stop();
  });

  test('C2: cut-over while mail flows at 20/s and a QRESYNC client is logged in; then C3: rollback', async () => {
    // the sender: one mail every 50 ms, each retried every 200 ms while answered 4xx
    const acked: string[] = [];
    const refused: string[] = [];
    let retries = 0;
    let sending = true;
    const inFlight: Promise<void>[] = [];
    const sendOne = async (subject: string) => {
      for (;;) {
        const code = await deliverOnce(srv.lmtp, 'mover@example.org', mail(subject));
        if (code === 250) return void acked.push(subject);
        if (code >= 500) return void refused.push(`${subject}: ${code}`);
        retries++;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    let n = 0;
    const sender = (async () => {
      while (sending) {
        inFlight.push(sendOne(`load-${n++}`));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // the client, proxied to Dovecot: it knows the mailbox as of its SELECT
    const c = qresyncClient(srv.imap);
    await c.connect();
    const box = await c.mailboxOpen('INBOX');
    const savedUidvalidity = box.uidValidity;
    const savedModseq = box.highestModseq!;
    expect(savedModseq).toBeGreaterThan(0n);
    // what the client knows as of savedModseq: a mail delivered between its SELECT and this FETCH
    // has a higher modseq, and a client that saved savedModseq does not have it
    const known = new Map<number, string>();
    for await (const m of c.fetch('1:*', { uid: true, envelope: true }))
      if (m.modseq! <= savedModseq) known.set(m.uid, m.envelope?.subject ?? '');
    let bye = false;
    c.on('close', () => (bye = true));
    await new Promise((r) => setTimeout(r, 1000));

    const cut = await migrateCli(dataDir, ['cutover', '--users', 'mover', '--json'], env);
    expect(cut.stderr).toBe('');
    expect(cut.code).toBe(0);
    const done = cut.events.find((e) => e.type === 'user-done') as { detail: { frozenMs: number; passes: number } };
    expect(done.detail.passes).toBeGreaterThanOrEqual(1);
    expect(bye).toBe(true);
    // mail keeps flowing into rmb now
    await new Promise((r) => setTimeout(r, 1500));
    sending = false;
    await sender;
    await Promise.all(inFlight);
    expect(refused).toEqual([]);
    // deliveries met the freeze and were retried
    expect(retries).toBeGreaterThan(0);

    // every mail answered 250 is in rmb exactly once; nothing else arrived
    const inRmb = await subjectsByUid(srv.imap, 'mover');
    const all = [...inRmb.values()];
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((s) => s.startsWith('load-')).sort()).toEqual([...acked].sort());
    for (let i = 0; i < 30; i++) expect(all).toContain(`before-${i}`);

    // the client comes back to rmb: UIDVALIDITY and modseq still valid
    const d = qresyncClient(srv.imap);
    await d.connect();
    try {
      const again = await d.mailboxOpen('INBOX');
      expect(again.uidValidity).toBe(savedUidvalidity);
      expect(again.highestModseq!).toBeGreaterThanOrEqual(savedModseq);
      // every UID it knew still names the same message
      for (const [uid, subject] of known) expect(inRmb.get(uid)).toBe(subject);
      // what changed since its modseq: the mail it does not have, and nothing it has
      const changed = new Set<number>();
      for await (const m of d.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: savedModseq }))
        changed.add(m.uid);
      const unknown = [...inRmb.keys()].filter((u) => !known.has(u));
      expect([...changed].sort((a, b) => a - b)).toEqual(unknown.sort((a, b) => a - b));
      // which is exactly the mail that arrived meanwhile
      const knownSubjects = new Set(known.values());
      expect(unknown.map((u) => inRmb.get(u)!).sort()).toEqual(all.filter((s) => !knownSubjects.has(s)).sort());
    } finally {
      await d.logout();
    }

    // post-sync: stragglers that still reach Dovecot after the cut-over, and a folder made there
    for (const sub of ['straggler-1', 'straggler-2']) expect(await deliverOnce(dv.lmtp, 'mover', mail(sub))).toBe(250);
    await withImap(dv.imap, 'mover', 'pw', async (e) => {
      await e.mailboxCreate('Late');
      await e.append('Late', mail('late-folder-mail'), ['\\Answered']);
    });
    const post = await migrateCli(dataDir, ['post-sync', '--users', 'mover', '--json'], env);
    expect(post.stderr).toBe('');
    expect(post.code).toBe(0);
    const postDone = post.events.find((e) => e.type === 'user-done') as { detail: { copied: number } };
    expect(postDone.detail.copied).toBe(3);
    const again = await migrateCli(dataDir, ['post-sync', '--users', 'mover', '--json'], env);
    expect((again.events.find((e) => e.type === 'user-done') as { detail: { copied: number } }).detail.copied).toBe(0);
    const afterPost = [...(await subjectsByUid(srv.imap, 'mover')).values()];
    for (const sub of ['straggler-1', 'straggler-2']) expect(afterPost.filter((x) => x === sub)).toHaveLength(1);
    const late = await withImap(srv.imap, 'mover', 'pw', async (e) => {
      await e.mailboxOpen('Late');
      const out: string[] = [];
      for await (const m of e.fetch('1:*', { envelope: true, flags: true }))
        out.push(`${m.envelope?.subject} ${[...(m.flags ?? [])].join(' ')}`);
      return out;
    });
    expect(late).toEqual(['late-folder-mail \\Answered']);

    // C3: new mail, a flag change and an expunge in rmb, then a rollback
    const firstUid = [...inRmb.keys()][0];
    // a mail the migration copied (the second), so every mail answered 250 must be back at Dovecot
    const delUid = [...inRmb.keys()][1];
    await withImap(srv.imap, 'mover', 'pw', async (e) => {
      await e.append('INBOX', mail('after-cutover-append'), ['\\Seen', 'Important']);
      await e.mailboxOpen('INBOX');
      await e.messageFlagsAdd(String(firstUid), ['\\Flagged', 'Project'], { uid: true });
      await e.messageDelete(String(delUid), { uid: true });
    });
    const rb = await migrateCli(dataDir, ['rollback', 'mover', '--json'], env);
    expect(rb.stderr).toBe('');
    expect(rb.code).toBe(0);
    const route = JSON.parse((await migrateCli(dataDir, ['route', 'show', 'mover'])).stdout) as {
      route: { state: string };
    };
    expect(route.route.state).toBe('source');
    // on Dovecot itself: every mail answered 250 once, the new one with its flags, the flag change, the expunge marked
    await withImap(dv.imap, 'mover', 'pw', async (e) => {
      await e.mailboxOpen('INBOX');
      const seen = new Map<string, { uid: number; flags: Set<string> }[]>();
      for await (const m of e.fetch('1:*', { uid: true, envelope: true, flags: true })) {
        const s = m.envelope?.subject ?? '';
        seen.set(s, [...(seen.get(s) ?? []), { uid: m.uid, flags: m.flags ?? new Set() }]);
      }
      // post-synced mail came from Dovecot: it is not copied back a second time
      for (const s of [...acked, 'after-cutover-append', 'straggler-1', 'straggler-2'])
        expect(seen.get(s)?.length).toBe(1);
      expect([...seen.get('after-cutover-append')![0].flags]).toEqual(expect.arrayContaining(['\\Seen', 'Important']));
      const first = [...seen.values()].flat().find((x) => x.uid === firstUid)!;
      expect([...first.flags]).toEqual(expect.arrayContaining(['\\Flagged', 'Project']));
      const deleted = [...seen.values()].flat().find((x) => x.uid === delUid)!;
      expect([...deleted.flags]).toContain('\\Deleted');
    });
    // the user logs in through rmb and is on Dovecot again
    const viaRmb = await subjectsByUid(srv.imap, 'mover');
    expect([...viaRmb.values()]).toContain('after-cutover-append');
    const report = JSON.parse((await migrateCli(dataDir, ['report', '--format', 'json'])).stdout) as {
      users: { user: string; state: { status: string; rollback?: { appended: number; flagsSet: number } } }[];
    };
    const mover = report.users.find((u) => u.user === 'mover')!;
    expect(mover.state.status).toBe('rolled-back');
    // the new mail and the mail delivered after the cut-over were copied back; one flag change
    expect(mover.state.rollback!.appended).toBeGreaterThanOrEqual(1);
    expect(mover.state.rollback!.flagsSet).toBe(1);
  }, 180000);

  test('C4: a cut-over whose verification fails routes the user back to the source, and says why', async () => {
    await srv.stop();
    const cluster = await connect({ backend: 'embedded', path: join(dataDir, 'store') });
    try {
      const store = await MailStore.open(cluster);
      const u = await store.user('broken');
      const [e] = await (await u.mailbox('INBOX')).entries();
      const b = await u.messageBytes(e, 5, 1);
      await u.io.write(e.mail, Buffer.from([b[0] ^ 0x20]), 5);
    } finally {
      await cluster.close();
    }
    srv = await startServer(dataDir);
    const cut = await migrateCli(dataDir, ['cutover', '--users', 'broken', '--json'], env);
    expect(cut.code).toBe(75);
    const route = JSON.parse((await migrateCli(dataDir, ['route', 'show', 'broken'])).stdout) as {
      route: { state: string; reason: string };
      history: { to: string; reason: string }[];
    };
    expect(route.route.state).toBe('source');
    expect(route.history.map((h) => h.to)).toEqual(['source', 'frozen', 'source']);
    expect(route.route.reason).toMatch(/verification found 1 difference\(s\): content: INBOX UID \d+/);
    const report = await migrateCli(dataDir, ['report', '--format', 'md']);
    expect(report.stdout).toMatch(/broken.*failed/);
    expect(report.stdout).toMatch(/verification found 1 difference/);
    // the user still works on Dovecot through rmb
    expect((await subjectsByUid(srv.imap, 'broken')).size).toBe(10);
  }, 120000);
});
