/**
 * Issue 13, C1's IMAP part and the session side of C5: a user routed `source` logs in to rmb and
 * is proxied to the old server (a real Dovecot with TLS): LOGIN and AUTHENTICATE PLAIN over
 * STARTTLS on the client leg, STARTTLS or implicit TLS on the upstream leg; SELECT, FETCH, APPEND
 * and IDLE work on Dovecot's mailbox through rmb; a delivery through rmb's LMTP wakes the proxied
 * IDLE. A user rmb does not know is proxied under the default route and checked by the old
 * server; a master user logs in for the user when configured; an unreachable old server gives
 * NO [UNAVAILABLE]. A freeze made by another process ends the proxied and the local sessions of
 * the user on two rmb servers with `* BYE`, and later logins go the new way.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { RawClient, dovecotSuite, lmtpTransport, newDataDir, startDovecot, startServer } from './harness.js';
import type { ReferenceDovecot, ServerChild } from './harness.js';
import { migrateCli, withImap } from './migrate-helpers.js';

/** An imapflow client to rmb over STARTTLS (rmb's self-signed certificate), with a login method. */
function tlsClient(port: number, user: string, pass: string, loginMethod?: 'LOGIN' | 'AUTH=PLAIN'): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass, ...(loginMethod ? { loginMethod } : {}) },
    logger: false,
  });
}

const mail = (subject: string) =>
  Buffer.from(
    `From: a@example.org\r\nTo: b@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@x>\r\n\r\nbody\r\n`,
  );

/** Subjects in INBOX of `user` on Dovecot itself (not through rmb). */
const dovecotSubjects = (dv: ReferenceDovecot, user: string, pass: string) =>
  withImap(dv.imap, user, pass, async (c) => {
    await c.mailboxOpen('INBOX');
    const out: string[] = [];
    for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.subject ?? '');
    return out;
  });

/** Wait until `f` is true (polled every 50 ms), at most `ms`; returns the elapsed time. */
async function until(f: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

dovecotSuite('IMAP sessions of users routed to the old server are proxied there (issue 13: C1, C5)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let a: ServerChild;
  let b: ServerChild;
  let starttlsUri: string;

  beforeAll(async () => {
    dv = await startDovecot({ olduser: 'same-pw', ghost: 'ghost-pw', mastered: 'dovecot-only-pw', localuser: 'x' }, [
      '--tls',
      '--master',
      'admin:master-pw',
    ]);
    dataDir = newDataDir({ olduser: 'same-pw', mastered: 'rmb-pw', localuser: 'local-pw' });
    writeFileSync(join(dataDir, 'master.secret'), 'master-pw\n');
    a = await startServer(dataDir);
    // the second front end logs in at the old server as the master user
    b = await startServer(dataDir, [
      'imap.port=0',
      'lmtp.port=0',
      'proxy.masterUser=admin',
      `proxy.masterSecret=file:${join(dataDir, 'master.secret')}`,
    ]);
    starttlsUri = `imap://127.0.0.1:${dv.imap}?starttls&insecure`;
    for (const u of ['olduser', 'mastered']) {
      const r = await migrateCli(dataDir, [
        'route',
        'set',
        u,
        'source',
        '--imap',
        starttlsUri,
        '--delivery',
        `lmtp://127.0.0.1:${dv.lmtp}`,
      ]);
      expect(r.code).toBe(0);
    }
  }, 120000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dv?.stop();
  });

  test('LOGIN over STARTTLS: SELECT, APPEND, FETCH and IDLE work on the Dovecot mailbox', async () => {
    const c = tlsClient(a.imap, 'olduser', 'same-pw', 'LOGIN');
    await c.connect();
    try {
      expect(c.secureConnection).toBe(true);
      // the capabilities after login are Dovecot's, not rmb's
      expect([...c.capabilities.keys()]).toEqual(expect.arrayContaining(['LOGIN-REFERRALS', 'IDLE']));
      // imapflow turns COMPRESS=DEFLATE on when offered: it passes through the proxy to Dovecot
      expect(c.capabilities.has('COMPRESS=DEFLATE')).toBe(true);
      expect((c as unknown as { _deflate?: unknown })._deflate).toBeDefined();
      await c.append('INBOX', mail('appended-through-rmb'), ['\\Seen']);
      const box = await c.mailboxOpen('INBOX');
      expect(box.exists).toBe(1);
      const m = await c.fetchOne('*', { envelope: true, flags: true, source: true });
      expect(m && m.envelope?.subject).toBe('appended-through-rmb');
      expect(m && [...(m.flags ?? [])]).toContain('\\Seen');
      expect(m && m.source?.toString()).toContain('Subject: appended-through-rmb');
      // IDLE through the proxy: a delivery through rmb's LMTP is relayed to Dovecot and wakes it
      let exists = 1;
      c.on('exists', (d: { count: number }) => (exists = d.count));
      const idle = c.idle();
      await new Promise((r) => setTimeout(r, 300));
      const t = lmtpTransport(a.lmtp);
      const info = (await t.sendMail({
        envelope: { from: 's@example.org', to: ['olduser@example.org'] },
        raw: mail('delivered'),
      })) as {
        response: string;
      };
      t.close();
      expect(info.response).toMatch(/^250/);
      await until(() => exists === 2, 10000);
      await c.noop();
      await idle.catch(() => undefined);
    } finally {
      await c.logout();
    }
    // it is all in Dovecot (rmb's own INBOX of the user stays empty: see the last test)
    expect(await dovecotSubjects(dv, 'olduser', 'same-pw')).toEqual(['appended-through-rmb', 'delivered']);
  });

  test('AUTHENTICATE PLAIN over STARTTLS, and an implicit-TLS upstream', async () => {
    const c = tlsClient(a.imap, 'olduser', 'same-pw', 'AUTH=PLAIN');
    await c.connect();
    try {
      expect(((await c.status('INBOX', { messages: true })) as { messages?: number }).messages).toBe(2);
    } finally {
      await c.logout();
    }
    expect(
      (
        await migrateCli(dataDir, [
          'route',
          'set',
          'olduser',
          'source',
          '--imap',
          `imaps://127.0.0.1:${dv.imaps}?insecure`,
        ])
      ).code,
    ).toBe(0);
    await new Promise((r) => setTimeout(r, 600)); // the route cache of the running server
    const d = tlsClient(a.imap, 'olduser', 'same-pw', 'AUTH=PLAIN');
    await d.connect();
    try {
      expect(((await d.status('INBOX', { messages: true })) as { messages?: number }).messages).toBe(2);
    } finally {
      await d.logout();
      await migrateCli(dataDir, ['route', 'set', 'olduser', 'source', '--imap', starttlsUri]);
    }
  });

  test('a wrong password is refused by the old server; rmb counts it as a failed login', async () => {
    const raw = await RawClient.greeted(a.imap);
    // localuser exists in rmb: a wrong password there is checked by rmb alone
    expect(await raw.tagged('LOGIN localuser wrong')).toMatch(/^r1 NO \[AUTHENTICATIONFAILED\]/);
    raw.sock.destroy();
    // a user rmb does not know is proxied under the default route, and the old server checks it
    const set = await migrateCli(dataDir, ['route', 'set', '@default', 'source', '--imap', starttlsUri]);
    expect(set.code).toBe(0);
    try {
      await new Promise((r) => setTimeout(r, 600));
      const bad = await RawClient.greeted(a.imap);
      expect(await bad.tagged('LOGIN ghost wrong-pw')).toMatch(/^r1 NO \[AUTHENTICATIONFAILED\]/);
      bad.sock.destroy();
      const good = await RawClient.greeted(a.imap);
      expect(await good.tagged('LOGIN ghost ghost-pw')).toMatch(/^r1 OK \[CAPABILITY IMAP4rev1 .*\] Logged in/);
      const sel = await good.lines('SELECT INBOX');
      expect(sel.tagged).toMatch(/^r2 OK/);
      expect(sel.untagged.join('\n')).toMatch(/\* 0 EXISTS/);
      good.sock.destroy();
    } finally {
      await migrateCli(dataDir, ['route', 'set', '@default', 'local']);
    }
  });

  test('a master user logs in at the old server for the user (SASL PLAIN with authorization identity)', async () => {
    // "mastered" has another password in Dovecot: only the master login can work there
    const viaA = await RawClient.greeted(a.imap);
    expect(await viaA.tagged('LOGIN mastered rmb-pw')).toMatch(/^r1 NO \[AUTHENTICATIONFAILED\]/);
    viaA.sock.destroy();
    const viaB = await RawClient.greeted(b.imap);
    expect(await viaB.tagged('LOGIN mastered rmb-pw')).toMatch(/^r1 OK .*Logged in/);
    expect(await viaB.tagged('STATUS INBOX (MESSAGES)')).toMatch(/^r2 OK/);
    viaB.sock.destroy();
  });

  test('an old server that does not answer gives NO [UNAVAILABLE]', async () => {
    await migrateCli(dataDir, ['route', 'set', 'olduser', 'source', '--imap', 'imap://127.0.0.1:1']);
    try {
      await new Promise((r) => setTimeout(r, 600));
      const raw = await RawClient.greeted(a.imap);
      expect(await raw.tagged('LOGIN olduser same-pw')).toMatch(/^r1 NO \[UNAVAILABLE\]/);
      raw.sock.destroy();
    } finally {
      await migrateCli(dataDir, ['route', 'set', 'olduser', 'source', '--imap', starttlsUri]);
    }
  });

  test('a freeze made by another process ends proxied and local sessions on both servers (C5)', async () => {
    await new Promise((r) => setTimeout(r, 600));
    // proxied sessions of olduser on both front ends, and a local session of localuser
    const onA = await RawClient.greeted(a.imap);
    expect(await onA.tagged('LOGIN olduser same-pw')).toMatch(/^r1 OK/);
    const onB = await RawClient.greeted(b.imap);
    expect(await onB.tagged('LOGIN olduser same-pw')).toMatch(/^r1 OK/);
    expect(await onB.tagged('SELECT INBOX')).toMatch(/^r2 OK/);
    const t0 = Date.now();
    const frozen = await migrateCli(dataDir, ['route', 'set', 'olduser', 'frozen', '--imap', starttlsUri]);
    expect(frozen.code).toBe(0);
    await onA.until(/\* BYE .*being moved/);
    await onB.until(/\* BYE .*being moved/);
    // within the route check time plus the cache time, with room for a loaded machine
    expect(Date.now() - t0).toBeLessThan(5000);
    const refused = await RawClient.greeted(a.imap);
    expect(await refused.tagged('LOGIN olduser same-pw')).toMatch(/^r1 NO \[UNAVAILABLE\] .*being moved/);
    refused.sock.destroy();

    // local now: a local session in rmb; a flip back to the source ends it
    await migrateCli(dataDir, ['route', 'set', 'olduser', 'local']);
    await new Promise((r) => setTimeout(r, 600));
    const local = await RawClient.greeted(b.imap);
    expect(await local.tagged('LOGIN olduser same-pw')).toMatch(/^r1 OK \[CAPABILITY .*\] Logged in$/);
    const box = await local.lines('SELECT INBOX');
    expect(box.untagged.join('\n')).toMatch(/\* 0 EXISTS/); // rmb's own (empty) INBOX
    const other = await RawClient.greeted(a.imap);
    expect(await other.tagged('LOGIN localuser local-pw')).toMatch(/^r1 OK/);
    await migrateCli(dataDir, ['route', 'set', 'olduser', 'source', '--imap', starttlsUri]);
    await local.until(/\* BYE .*moved/);
    // a session of another user is left alone
    expect(await other.tagged('NOOP')).toMatch(/^r2 OK/);
    other.sock.destroy();
    for (const s of [onA, onB, local]) s.sock.destroy();
  });
});
