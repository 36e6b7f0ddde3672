/**
 * Issue 13 groundwork (the LMTP parts of C1 and C5): rmb's LMTP obeys each user's route. A user
 * routed `source` has the mail relayed to the old server (a real Dovecot) with that server's
 * answer per recipient; `frozen` is 451 4.2.0; `local` is stored in rmb; unknown users still get
 * 550 5.1.1. A flip made with `rmb migrate route set` (a third process) is obeyed by two running
 * rmb servers within a second.
 */
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { RawClient, dovecotSuite, lmtpTransport, newDataDir, startDovecot, startServer } from './harness.js';
import type { ReferenceDovecot, ServerChild } from './harness.js';
import { migrateCli, withImap } from './migrate-helpers.js';

/** Deliver one mail to `rcpt` through LMTP `port`: the reply code and text for that recipient. */
async function deliver(port: number, rcpt: string, subject: string): Promise<{ code: number; text: string }> {
  const t = lmtpTransport(port);
  try {
    const info = (await t.sendMail({
      envelope: { from: 'sender@example.org', to: [rcpt] },
      raw:
        `From: sender@example.org\r\nSubject: ${subject}\r\n` +
        `Message-ID: <${subject.replace(/\W/g, '')}@x>\r\n\r\nhi\r\n`,
    })) as { response: string; rejectedErrors?: { responseCode: number; response: string }[] };
    // LMTP: a recipient refused after DATA is reported, not thrown
    const refused = info.rejectedErrors?.[0];
    if (refused) return { code: refused.responseCode, text: refused.response };
    return { code: 250, text: info.response };
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    return { code: err.responseCode ?? 0, text: err.response ?? err.message };
  } finally {
    t.close();
  }
}

const subjects = async (port: number, user: string, pass: string) =>
  withImap(port, user, pass, async (c) => {
    await c.mailboxOpen('INBOX');
    const out: string[] = [];
    for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.subject ?? '');
    return out;
  }).catch(() => [] as string[]);

dovecotSuite('LMTP obeys the route of each user (issue 13: C1, C5, LMTP parts)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let a: ServerChild;
  let b: ServerChild;

  beforeAll(async () => {
    dv = await startDovecot({ olduser: 'old-pw', old2: 'old2-pw' });
    dataDir = newDataDir({ olduser: 'rmb-pw', localuser: 'rmb-pw' });
    a = await startServer(dataDir);
    b = await startServer(dataDir, ['imap.port=0', 'lmtp.port=0']);
  }, 120000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dv?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const route = async (user: string, state: string, extra: string[] = []) => {
    const r = await migrateCli(dataDir, ['route', 'set', user, state, ...extra]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  };
  const old = () => ['--imap', `imap://127.0.0.1:${dv.imap}`, '--delivery', `lmtp://127.0.0.1:${dv.lmtp}`];

  test("source: relayed with the old server's answer; unknown users 550; frozen 451 4.2.0; local stored", async () => {
    // before any route: local, as always
    expect((await deliver(a.lmtp, 'localuser@example.org', 'plain local')).code).toBe(250);
    expect(await deliver(a.lmtp, 'ghost@example.org', 'nobody')).toMatchObject({ code: 550 });
    expect((await deliver(a.lmtp, 'ghost@example.org', 'nobody')).text).toMatch(/5\.1\.1/);

    await route('olduser', 'source', old());
    const refusedLogin = await RawClient.greeted(a.imap, 's');
    // IMAP is proxied to the old server, which checks its own password (route-proxy.test.ts)
    expect(await refusedLogin.command('LOGIN olduser rmb-pw')).toMatch(/^s\d+ NO \[AUTHENTICATIONFAILED\]/m);
    expect(await refusedLogin.command('LOGIN olduser old-pw')).toMatch(/^s\d+ OK .*Logged in \(proxied\)/m);
    refusedLogin.close();
    const relayed = await deliver(a.lmtp, 'olduser@example.org', 'to the old server');
    expect(relayed.code).toBe(250);
    expect(relayed.text).toMatch(/relayed/);
    expect(await subjects(dv.imap, 'olduser', 'old-pw')).toEqual(['to the old server']);

    // a default route: users rmb has never heard of go to the old server, which answers for them
    await route('@default', 'source', old());
    expect((await deliver(a.lmtp, 'old2@example.org', 'unknown to rmb')).code).toBe(250);
    expect(await subjects(dv.imap, 'old2', 'old2-pw')).toEqual(['unknown to rmb']);
    await route('@default', 'local');
    // an old server that refuses a recipient: its code and text come back for that recipient
    const picky = new SMTPServer({
      lmtp: true,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo: (addr, _s, cb) =>
        cb(Object.assign(new Error(`5.1.1 <${addr.address}> No such user here`), { responseCode: 550 })),
    });
    await new Promise<void>((r) => picky.listen(0, '127.0.0.1', r));
    const pickyPort = (picky.server.address() as AddressInfo).port;
    try {
      await route('nosuch@example.org', 'source', [
        '--imap',
        'imap://127.0.0.1:1',
        '--delivery',
        `lmtp://127.0.0.1:${pickyPort}`,
      ]);
      const refused = await deliver(a.lmtp, 'nosuch@example.org', 'unknown everywhere');
      expect(refused.code).toBe(550);
      expect(refused.text).toMatch(/5\.1\.1 <nosuch@example.org> No such user here/);
    } finally {
      picky.close();
    }
    expect((await deliver(a.lmtp, 'old2@example.org', 'after the default went')).code).toBe(550);

    // frozen: the MTA is told to retry (RFC 3463 4.2.0), on both servers within a second
    await route('olduser', 'frozen', old());
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of [a, b]) {
      const f = await deliver(s.lmtp, 'olduser@example.org', 'while frozen');
      expect(f.code).toBe(451);
      expect(f.text).toMatch(/4\.2\.0/);
      // and IMAP logins wait too: NO [UNAVAILABLE] with a word why
      const c = await RawClient.greeted(s.imap, 'f');
      expect(await c.command('LOGIN olduser rmb-pw')).toMatch(/^f\d+ NO \[UNAVAILABLE\] Your mailbox is being moved/m);
      c.close();
    }
    // local: stored in rmb, through either server
    await route('olduser', 'local');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await deliver(b.lmtp, 'olduser@example.org', 'now in rmb')).code).toBe(250);
    expect(await subjects(a.imap, 'olduser', 'rmb-pw')).toEqual(['now in rmb']);
    expect(await subjects(dv.imap, 'olduser', 'old-pw')).toEqual(['to the old server']);

    const show = await migrateCli(dataDir, ['route', 'show', 'olduser']);
    const h = JSON.parse(show.stdout) as { route: { state: string }; history: { to: string }[] };
    expect(h.route.state).toBe('local');
    expect(h.history.map((x) => x.to)).toEqual(['source', 'frozen', 'local']);
  }, 120000);

  test('an old server that does not answer: 451 4.4.1, nothing lost', async () => {
    await route('olduser', 'source', ['--imap', 'imap://127.0.0.1:1', '--delivery', 'lmtp://127.0.0.1:1']);
    await new Promise((r) => setTimeout(r, 1000));
    const r = await deliver(a.lmtp, 'olduser@example.org', 'nowhere to go');
    expect(r.code).toBe(451);
    expect(r.text).toMatch(/4\.4\.1/);
    await route('olduser', 'local');
  }, 60000);
});
