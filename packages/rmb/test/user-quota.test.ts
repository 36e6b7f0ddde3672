/**
 * Issue 4, QUOTA "limits from config or per user": `rmb user quota` sets a user's own limits in
 * the store (the mailbox list's omap, so every front-end node sees them), which replace the
 * configured quota.* defaults for that user: GETQUOTAROOT/GETQUOTA report them (RFC 9208 §4.2,
 * §4.3), APPEND beyond them is NO [OVERQUOTA] (RFC 9208 §4.4 / RFC 5530) and LMTP 452 4.2.2;
 * other users keep the defaults; --clear brings the defaults back for new sessions.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cli, newDataDir, RawClient, startServer, type ServerChild, lmtpTransport } from './harness.js';

let dataDir: string;
let srv: ServerChild | undefined;
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const quota = (...args: string[]) =>
  execFileSync(process.execPath, [cli, 'user', 'quota', ...args, '-s', `dataDir=${dataDir}`], { encoding: 'utf8' });

async function login(user: string): Promise<RawClient> {
  const c = await RawClient.greeted(srv!.imap, 'q');
  expect(await c.command(`LOGIN ${user} pw`)).toMatch(/OK/);
  return c;
}

const mail = (n: number) => `Subject: m${n}\r\n\r\n${'x'.repeat(100)}\r\n`;
const append = (c: RawClient, m: string) => c.command(`APPEND INBOX {${m.length}+}\r\n${m}`);

test('per-user quota: set with `rmb user quota`, reported and enforced for that user only, cleared again', async () => {
  // the configured default: 10 messages for everyone
  dataDir = newDataDir({ alice: 'pw', bob: 'pw' });
  expect(quota('alice')).toBe('alice: storage 0 of unlimited bytes, messages 0 of unlimited\n');
  // alice's own limits: 2 messages, 100000 bytes; set in two steps (the second keeps the first)
  quota('alice', '--messages', '2');
  expect(quota('alice', '--storage', '100000')).toBe('alice: storage 0 of 100000 bytes, messages 0 of 2\n');
  expect(() => quota('alice', '--messages', '-1')).toThrow();
  expect(() => quota('nobody', '--messages', '1')).toThrow();

  srv = await startServer(dataDir, ['quota.messages=10']);
  const a = await login('alice');
  expect(await a.command('GETQUOTAROOT INBOX')).toContain('* QUOTA "" (STORAGE 0 97 MESSAGE 0 2)');
  expect(await append(a, mail(1))).toMatch(/^q\d+ OK/m);
  expect(await append(a, mail(2))).toMatch(/^q\d+ OK/m);
  expect(await append(a, mail(3))).toMatch(/^q\d+ NO \[OVERQUOTA\]/m);
  expect(await a.command('GETQUOTA ""')).toContain('* QUOTA "" (STORAGE 1 97 MESSAGE 2 2)');
  // LMTP: alice is over her quota (temporary failure), bob is not
  const t = lmtpTransport(srv.lmtp);
  try {
    const info = await t
      .sendMail({ envelope: { from: 'x@example.org', to: ['alice@example.org', 'bob@example.org'] }, raw: mail(4) })
      .catch((e: Error) => e);
    expect(String((info as { rejectedErrors?: Error[] }).rejectedErrors?.[0] ?? info)).toMatch(/452 4\.2\.2/);
    expect((info as { accepted?: string[] }).accepted).toEqual(['bob@example.org']);
  } finally {
    t.close();
  }

  // bob has the configured default
  const b = await login('bob');
  expect(await b.command('GETQUOTAROOT INBOX')).toContain('* QUOTA "" (MESSAGE 1 10)');
  b.close();

  // cleared while the server runs: a new session of alice gets the default again
  expect(quota('alice', '--clear')).toBe('alice: storage 234 of unlimited bytes, messages 2 of unlimited\n');
  a.close();
  const a2 = await login('alice');
  expect(await a2.command('GETQUOTA ""')).toContain('* QUOTA "" (MESSAGE 2 10)');
  expect(await append(a2, mail(5))).toMatch(/^q\d+ OK/m);
  a2.close();
}, 60000);
