/**
 * Issue 15, O8: failed authentications are throttled per remote address as configured, while the
 * right password from another address still works; user names and mailbox names that try to
 * escape (`..`, a leading `/`, control characters, over-long) are refused at the edge. `rmb serve`
 * on the embedded store; clients bind distinct loopback addresses (127.0.0.x).
 */
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { newDataDir, RawClient, startServer, type ServerChild } from './harness.js';

let dataDir: string;
let srv: ServerChild;
let log = '';
beforeAll(async () => {
  dataDir = newDataDir({ alice: 'right' });
  srv = await startServer(dataDir, [
    'auth.throttle.addressFailures=5',
    'auth.throttle.baseDelayMs=5',
    'auth.throttle.maxDelayMs=20',
    'auth.throttle.blockMs=600000',
    'imap.maxAuthFailures=50',
  ]);
  srv.proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A greeted raw client whose connection comes from loopback address `from`. */
function from(address: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: srv.imap, host: '127.0.0.1', localAddress: address }, async () => {
      const c = new RawClient(s);
      await c.until(/^\* OK/m);
      resolve(c);
    });
    s.once('error', reject);
  });
}

test('20 wrong passwords from one address: 5 failures, then refusals; another address still logs in', async () => {
  const c = await from('127.0.0.11');
  const answers: string[] = [];
  for (let i = 0; i < 20; i++) answers.push(await c.tagged(`LOGIN alice wrong${i}`));
  expect(answers.slice(0, 5).every((a) => /NO \[AUTHENTICATIONFAILED\]/.test(a))).toBe(true);
  expect(answers.slice(5).every((a) => /NO \[UNAVAILABLE\]/.test(a))).toBe(true);
  // refused even with the right password, and on a new connection from the same address
  expect(await c.tagged('LOGIN alice right')).toMatch(/NO \[UNAVAILABLE\]/);
  c.close();
  const again = await from('127.0.0.11');
  expect(await again.tagged('LOGIN alice right')).toMatch(/NO \[UNAVAILABLE\]/);
  again.close();
  const other = await from('127.0.0.12');
  expect(await other.tagged('LOGIN alice right')).toMatch(/OK/);
  other.close();
  // the refusal is logged with the address
  await new Promise((r) => setTimeout(r, 200));
  expect(log).toMatch(
    /"remote":"127\.0\.0\.11"[^\n]*too many failures|too many failures[^\n]*"remote":"127\.0\.0\.11"/,
  );
});

test('hostile user names are refused without a lookup, even with the right password', async () => {
  const names: [string, string | Buffer][] = [
    ['dots', '"../alice"'],
    ['slash', '"/alice"'],
    ['tilde', '"~alice"'],
    ['long', `"${'a'.repeat(300)}"`],
  ];
  let n = 20;
  for (const [, name] of names) {
    const c = await from(`127.0.0.${n++}`);
    expect(await c.tagged(`LOGIN ${name as string} right`)).toMatch(/NO \[AUTHENTICATIONFAILED\]/);
    c.close();
  }
  // a control character, sent in a literal
  const c = await from(`127.0.0.${n++}`);
  c.send(Buffer.from('x1 LOGIN {6+}\r\nal\x01ice right\r\n', 'latin1'));
  expect(await c.until(/^x1 (OK|NO|BAD).*\r\n/m)).toMatch(/x1 NO \[AUTHENTICATIONFAILED\]/);
  c.close();
});

test('hostile mailbox names are refused by CREATE, RENAME and SELECT; nothing is made', async () => {
  const c = await from('127.0.0.40');
  expect(await c.tagged('LOGIN alice right')).toMatch(/OK/);
  const bad = ['"a/../b"', '".."', '"./x"', '"/x"', `"${'m'.repeat(600)}"`, '"a/./b"'];
  for (const name of bad) {
    expect(await c.tagged(`CREATE ${name}`)).toMatch(/^r\d+ NO /);
    expect(await c.tagged(`SELECT ${name}`)).toMatch(/^r\d+ NO /);
  }
  expect(await c.tagged('RENAME Drafts "../Drafts"')).toMatch(/^r\d+ NO /);
  c.send(Buffer.from('x2 CREATE {4+}\r\na\x00\x01b\r\n', 'latin1'));
  expect(await c.until(/^x2 (OK|NO|BAD).*\r\n/m)).toMatch(/x2 (NO|BAD) /);
  const list = await c.command('LIST "" "*"');
  const names = [...list.matchAll(/^\* LIST \([^)]*\) "\/" "?([^"\r]*)"?\r$/gm)].map((m) => m[1]).sort();
  expect(names).toEqual(['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
  c.close();
});
