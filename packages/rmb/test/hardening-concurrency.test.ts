/**
 * Issue 10, point 2: behaviours that showed up with several sessions on one account (a phone and a
 * desktop), each reduced to a named test on an in-process server (memory store).
 */
import { connect } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import { inProcessServer, RawClient, type InProcessServer } from './harness.js';

let srv: InProcessServer;
let graceless: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer();
  graceless = await inProcessServer({}, { expungeGraceMs: 0 });
});
afterAll(async () => {
  await srv.close();
  await graceless.close();
});

const DEFAULTS = ['INBOX', 'Drafts', 'Sent', 'Trash', 'Junk', 'Archive'];

async function appendAll(c: RawClient, box: string, mails: string[]): Promise<void> {
  for (const m of mails) expect(await c.command(`APPEND ${box}`, m)).toMatch(/OK/);
}

/** Two logged-in sessions of `user`, both with INBOX selected after the three mails were appended. */
async function twoOnInbox(port: number, user: string, mails: string[]): Promise<[RawClient, RawClient]> {
  const a = await RawClient.greeted(port, 'a');
  const b = await RawClient.greeted(port, 'b');
  await a.command(`LOGIN ${user} pw`);
  await b.command(`LOGIN ${user} pw`);
  await appendAll(a, 'INBOX', mails);
  expect(await a.command('SELECT INBOX')).toMatch(new RegExp(`\\* ${mails.length} EXISTS`));
  await b.command('SELECT INBOX');
  return [a, b];
}

test("a new user's first logins race: every session's LIST shows the whole default set", async () => {
  const users = Array.from({ length: 12 }, (_, i) => `fresh${i}`);
  const sessions = users.flatMap((u) =>
    Array.from({ length: 4 }, async () => {
      const c = await RawClient.greeted(srv.port, 'p');
      await c.command(`LOGIN ${u} pw`);
      const list = await c.command('LIST "" *');
      c.close();
      return [...list.matchAll(/^\* LIST \([^)]*\) "\/" "?([^"\r\n]+)"?\r$/gm)].map((m) => m[1]).sort();
    }),
  );
  for (const names of await Promise.all(sessions)) expect(names).toEqual([...DEFAULTS].sort());
});

test("a new user's provisioning is atomic for readers: a second node never lists a partial default set", async () => {
  const cluster = await connect({ backend: 'memory' });
  const a = await MailStore.open(cluster);
  const b = await MailStore.open(cluster); // another front end: its own caches
  const seen: string[][] = [];
  let done = false;
  const creating = a.user('racer').then(() => {
    done = true;
  });
  while (!done) {
    if (await b.userId('racer')) seen.push((await (await b.user('racer')).mailboxes()).map((m) => m.name).sort());
    else await null; // memory-store operations are microtasks: interleave with them
  }
  await creating;
  seen.push((await (await b.user('racer')).mailboxes()).map((m) => m.name).sort());
  expect(seen.length).toBeGreaterThan(1); // the reader did look while the user was being created
  for (const names of seen) expect(names).toEqual([...DEFAULTS].sort());
  await cluster.close();
});

test('FETCH of a mail another session expunged: still served (RFC 2180 §4.1), the EXPUNGE comes later', async () => {
  const [a, b] = await twoOnInbox(srv.port, 'expunger', [
    'Subject: one\r\n\r\nfirst\r\n',
    'Subject: two\r\n\r\nsecond body\r\n',
    'Subject: three\r\n\r\nthird\r\n',
  ]);
  expect(await b.command('STORE 2 +FLAGS.SILENT (\\Deleted)')).toMatch(/OK/);
  expect(await b.command('EXPUNGE')).toMatch(/\* 2 EXPUNGE/);
  const got = await a.command('FETCH 2 (BODY[TEXT])');
  expect(got).toMatch(/^a\d+ OK/m);
  expect(got).toContain('second body');
  expect(got).not.toMatch(/EXPUNGE/); // not during FETCH (RFC 3501 §7.4.1)
  expect(await a.command('NOOP')).toMatch(/\* 2 EXPUNGE/);
  a.close();
  b.close();
});

test('FETCH of a mail whose bytes are truly gone answers NO [EXPUNGEISSUED], never [UNAVAILABLE]', async () => {
  const [a, b] = await twoOnInbox(graceless.port, 'gone', [
    'Subject: one\r\n\r\nfirst\r\n',
    'Subject: two\r\n\r\nsecond\r\n',
    'Subject: three\r\n\r\nthird\r\n',
  ]);
  // with no grace period (store.expungeGraceMs=0) the expunge releases the object at once
  await b.command('STORE 2 +FLAGS.SILENT (\\Deleted)');
  await b.command('EXPUNGE');
  const got = await a.command('FETCH 2 (BODY[])');
  expect(got).toMatch(/^a\d+ NO \[EXPUNGEISSUED\]/m);
  expect(await a.command('FETCH 1 (BODY[TEXT])')).toContain('first');
  a.close();
  b.close();
});
