/**
 * A4 IDLE across connections, A5 bad input (malformed commands, long lines, oversized literals,
 * wrong passwords, LOGINDISABLED, LMTP unknown recipient, broken MIME), A6 the README's start
 * command.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import {
  newDataDir,
  RawClient,
  repoRoot,
  startServer,
  waitReady,
  type ServerChild,
  plainImapFlow,
  lmtpTransport,
} from './harness.js';

let dataDir: string;
let srv: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ carol: 'carol-pw' });
  srv = await startServer(dataDir, ['imap.maxLineBytes=1000', 'imap.maxLiteralBytes=100000']);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const lmtpSend = async (to: string[], raw: string) => {
  const t = lmtpTransport(srv.lmtp);
  try {
    return await t.sendMail({ envelope: { from: 'x@example.org', to }, raw });
  } finally {
    t.close();
  }
};

test('A4: a session in IDLE on INBOX gets EXISTS for a mail delivered over LMTP by another connection', async () => {
  const c = plainImapFlow(srv.imap, 'carol', 'carol-pw');
  await c.connect();
  const lock = await c.getMailboxLock('INBOX');
  const before = (c.mailbox as { exists: number }).exists;
  const got = new Promise<number>((resolve) => c.on('exists', (d: { count: number }) => resolve(d.count)));
  const idling = c.idle();
  await new Promise((r) => setTimeout(r, 300));
  await lmtpSend(['carol@example.org'], 'Subject: wake up\r\n\r\nnew mail\r\n');
  const count = await Promise.race([
    got,
    new Promise<number>((_, j) => setTimeout(() => j(new Error('no EXISTS within 10 s')), 10000)),
  ]);
  expect(count).toBe(before + 1);
  lock.release();
  await c.logout();
  await idling.catch(() => undefined);
}, 30000);

test('A5: malformed commands get BAD and the session goes on; long lines and big literals are refused', async () => {
  const c = await RawClient.open(srv.imap);
  await c.until(/^\* OK .*\r\n/);
  c.send('a1 LOGIN carol carol-pw\r\n');
  expect(await c.until(/a1 (OK|NO|BAD).*\r\n/)).toMatch(/a1 OK/);
  for (const bad of [
    'a2 FETCH\r\n',
    'a3 SELECT\r\n',
    'a4 NOSUCHCOMMAND\r\n',
    '"unterminated\r\n',
    'a5 LIST "" "unterminated\r\n',
    'a6 FETCH 1 (BODY[\r\n',
    '\r\n',
  ]) {
    c.send(bad);
    expect(await c.until(/ BAD .*\r\n/)).toMatch(/BAD/);
  }
  c.send(`a7 NOOP ${'x'.repeat(5000)}\r\n`);
  expect(await c.until(/ BAD .*\r\n/)).toMatch(/too long/i);
  c.send('a8 APPEND INBOX {500000}\r\n');
  const refused = await c.until(/a8 .*\r\n/);
  expect(refused).toMatch(/a8 NO \[TOOBIG\]/);
  expect(refused).not.toMatch(/^\+/m);
  c.send(`a9 APPEND INBOX {200000+}\r\n${'z'.repeat(200000)}\r\n`);
  expect(await c.until(/a9 .*\r\n/)).toMatch(/a9 NO \[TOOBIG\]/);
  c.send('a10 SELECT INBOX\r\n');
  expect(await c.until(/a10 (OK|NO|BAD).*\r\n/)).toMatch(/a10 OK/);
  c.send('a11 FETCH 999 FLAGS\r\n');
  expect(await c.until(/a11 .*\r\n/)).toMatch(/a11 BAD/);
  c.send('a12 CREATE "&Jjo-!"\r\na13 CREATE "bad&name"\r\n');
  const created = await c.until(/a13 .*\r\n/);
  expect(created).toMatch(/a12 OK/);
  expect(created).toMatch(/a13 NO \[CANNOT\]/); // not valid modified UTF-7: NO, not BAD (issue 10, as Dovecot)
  c.send('a14 NOOP\r\n');
  expect(await c.until(/a14 .*\r\n/)).toMatch(/a14 OK/);
  c.close();
}, 30000);

test('A5: a wrong password gets NO [AUTHENTICATIONFAILED]; unknown users too', async () => {
  const c = await RawClient.open(srv.imap);
  await c.until(/^\* OK .*\r\n/);
  c.send('a1 LOGIN carol wrong\r\n');
  expect(await c.until(/a1 .*\r\n/)).toMatch(/a1 NO \[AUTHENTICATIONFAILED\]/);
  c.send(`a2 AUTHENTICATE PLAIN ${Buffer.from('\0nobody\0x').toString('base64')}\r\n`);
  expect(await c.until(/a2 .*\r\n/)).toMatch(/a2 NO \[AUTHENTICATIONFAILED\]/);
  c.close();
}, 30000);

test('A5: cleartext LOGIN is refused where the config does not allow it (LOGINDISABLED, PRIVACYREQUIRED)', async () => {
  const dir = newDataDir({ dave: 'dave-pw' });
  const strict = await startServer(dir, ['auth.plaintextAuth=never']);
  try {
    const c = await RawClient.open(strict.imap);
    const greeting = await c.until(/^\* OK .*\r\n/);
    expect(greeting).toMatch(/LOGINDISABLED/);
    expect(greeting).toMatch(/STARTTLS/);
    c.send('a1 LOGIN dave dave-pw\r\n');
    expect(await c.until(/a1 .*\r\n/)).toMatch(/a1 NO \[PRIVACYREQUIRED\]/);
    c.close();
    const t = new ImapFlow({
      host: '127.0.0.1',
      port: strict.imap,
      secure: false,
      auth: { user: 'dave', pass: 'dave-pw' },
      tls: { rejectUnauthorized: false },
      logger: false,
    });
    await t.connect(); // STARTTLS, then LOGIN over TLS
    expect(
      t.secureConnection || (t as unknown as { _socket?: { encrypted?: boolean } })._socket?.encrypted,
    ).toBeTruthy();
    await t.logout();
  } finally {
    await strict.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60000);

test('A5: LMTP to one unknown and one known recipient delivers to the known one, 550 5.1.1 for the other', async () => {
  const c = await RawClient.open(srv.lmtp);
  await c.until(/^220 .*\r\n/);
  c.send('LHLO client.example\r\n');
  await c.until(/^250 .*\r\n/m);
  c.send('MAIL FROM:<x@example.org>\r\n');
  await c.until(/250.*\r\n/);
  c.send('RCPT TO:<nobody@example.org>\r\n');
  expect(await c.until(/\d{3} .*\r\n/)).toMatch(/^550 5\.1\.1/m);
  c.send('RCPT TO:<carol@example.org>\r\n');
  expect(await c.until(/\d{3} .*\r\n/)).toMatch(/^250/m);
  c.send('DATA\r\n');
  await c.until(/^354/m);
  c.send('Subject: for carol only\r\n\r\nhello\r\n.\r\n');
  const replies = await c.until(/^250 .*\r\n/m);
  expect(replies.match(/^\d{3} /gm)).toEqual(['250 ']);
  c.send('QUIT\r\n');
  c.close();
  const im = plainImapFlow(srv.imap, 'carol', 'carol-pw');
  await im.connect();
  const lock = await im.getMailboxLock('INBOX');
  const found = await im.search({ subject: 'for carol only' });
  expect((found || []).length).toBe(1);
  lock.release();
  await im.logout();
}, 30000);

test('A5: a mail with broken MIME is stored and served as is', async () => {
  const broken =
    'From: a@b.c\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; ' +
    'boundary="nope"\r\nContent-Transfer-Encoding: base64\r\n\r\n--wrong\r\nContent-Type: text/plain\r\n\r\n' +
    '!!! not base64 ===\r\n--nope\r\nContent-Type: message/rfc822\r\n\r\ngarbage without header end';
  const im = plainImapFlow(srv.imap, 'carol', 'carol-pw');
  await im.connect();
  const res = await im.append('INBOX', broken);
  expect(res && res.uid).toBeGreaterThan(0);
  const lock = await im.getMailboxLock('INBOX');
  const msg = await im.fetchOne(
    String((res as { uid: number }).uid),
    { source: true, bodyStructure: true, envelope: true },
    { uid: true },
  );
  expect(msg && msg.source!.toString()).toBe(broken);
  expect(msg && msg.bodyStructure?.type).toBe('multipart/mixed');
  lock.release();
  await im.logout();
}, 30000);

test("A6: the README's start command brings up a server a client can log into", async () => {
  const dir = newDataDir({});
  const proc = spawn('npm', ['start', '--silent'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      RMB_DATA_DIR: dir,
      RMB_IMAP__PORT: '0',
      RMB_IMAP__TLS_PORT: '0',
      RMB_LMTP__PORT: '0',
      RMB_LOG__LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  try {
    const s = await waitReady(proc, dir);
    const c = plainImapFlow(s.imap, 'demo', 'demo');
    await c.connect();
    const list = await c.list();
    expect(list.map((m) => m.path).sort()).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
    await c.logout();
  } finally {
    try {
      process.kill(-proc.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
}, 120000);
