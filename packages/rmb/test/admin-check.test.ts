/**
 * Issue 15, O3 and O4, through the CLI while `rmb serve` runs on the same embedded store:
 * - O4: INBOX's index object is deleted; `rmb index rebuild` brings back the same UIDVALIDITY,
 *   UIDs, flags, keywords and INTERNALDATEs, as IMAP shows them (compared with what the test saved);
 * - O3: `rmb check` finds each planted defect (an orphan object, a missing object, a wrong
 *   reference count, a wrong counter), `--repair` fixes each, a second check finds none, and IMAP
 *   shows the repaired mailbox.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectStore } from '@rmb/rados';
import { MailStore, type Counters } from '@rmb/librmb';
import { newDataDir, RawClient, rmbCli, startServer, type ServerChild } from './harness.js';

let dataDir: string;
let srv: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ ops: 'pw' });
  srv = await startServer(dataDir);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `rmb <args>` on the test's data directory: stdout and exit code. */
const rmb = (...args: string[]) => rmbCli(dataDir, args);

/** Work on the store beside the server (the embedded store is shared by processes). */
async function withStore<T>(fn: (store: MailStore) => Promise<T>): Promise<T> {
  const cluster = await connectStore({ backend: 'embedded', path: join(dataDir, 'store') });
  try {
    return await fn(await MailStore.open(cluster));
  } finally {
    await cluster.close();
  }
}

/** UIDVALIDITY, EXISTS and UID -> "FLAGS | INTERNALDATE" of a mailbox, as a fresh session sees it. */
async function imapState(box: string): Promise<{ uidvalidity: string; exists: number; msgs: Record<string, string> }> {
  const c = await RawClient.greeted(srv.imap);
  await c.command('LOGIN ops pw');
  const sel = await c.command(`SELECT ${box}`);
  const msgs: Record<string, string> = {};
  for (const m of (await c.command('UID FETCH 1:* (FLAGS INTERNALDATE)')).matchAll(/^\* \d+ FETCH \((.*)\)\r$/gm)) {
    const uid = /UID (\d+)/.exec(m[1])![1];
    const flags = /FLAGS \(([^)]*)\)/
      .exec(m[1])![1]
      .split(' ')
      .filter((f) => f && f !== '\\Recent')
      .sort();
    msgs[uid] = `${flags.join(' ')} | ${/INTERNALDATE "([^"]+)"/.exec(m[1])![1]}`;
  }
  c.close();
  return {
    uidvalidity: /UIDVALIDITY (\d+)/.exec(sel)![1],
    exists: Number(/\* (\d+) EXISTS/.exec(sel)![1]),
    msgs,
  };
}

test('O4: a deleted index object is rebuilt by `rmb index rebuild` to what IMAP showed', async () => {
  const c = await RawClient.greeted(srv.imap);
  await c.command('LOGIN ops pw');
  for (let i = 0; i < 10; i++) {
    const flags = i % 3 === 0 ? '(\\Seen $Work)' : i % 3 === 1 ? '(\\Flagged)' : '()';
    const date = `"0${(i % 9) + 1}-Mar-2021 1${i}:30:00 +0200"`;
    expect(await c.tagged(`APPEND INBOX ${flags} ${date}`, `Subject: m${i}\r\n\r\nbody${i}\r\n`)).toMatch(/OK/);
  }
  await c.command('SELECT INBOX');
  await c.command('UID STORE 2:4 +FLAGS (Project \\Answered)');
  await c.command('UID STORE 5 -FLAGS (\\Flagged)');
  await c.command('UID STORE 7 +FLAGS (\\Deleted)');
  await c.command('EXPUNGE');
  await c.command('UID COPY 1:3 Archive');
  c.close();
  const before = await imapState('INBOX');
  const archive = await imapState('Archive');
  expect(before.exists).toBe(9);
  await new Promise((r) => setTimeout(r, 300)); // the references are written after the commits
  await withStore(async (store) => {
    const inbox = await (await store.user('ops')).mailbox('INBOX');
    await inbox.io.remove(inbox.oid);
  });
  const r = await rmb('index', 'rebuild', 'ops', 'INBOX', '--grace-ms', '0', '--json');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out)).toMatchObject({ mailbox: 'INBOX', messages: 9, recovered: 0 });
  expect(await imapState('INBOX')).toEqual(before);
  expect(await imapState('Archive')).toEqual(archive);
});

test('O3: `rmb check` finds each planted defect, --repair fixes each, IMAP shows the repaired mailbox', async () => {
  const clean = await rmb('check', 'ops', '--grace-ms', '0', '--json');
  expect(clean.code).toBe(0);
  expect(JSON.parse(clean.out)[0].defects).toEqual([]);
  const before = await imapState('INBOX');
  const planted = await withStore(async (store) => {
    const u = await store.user('ops');
    const inbox = await u.mailbox('INBOX');
    const entries = await inbox.entries();
    const orphan = u.mails.prepare(Buffer.from('Subject: orphan\r\n\r\nx\r\n'), {
      mailbox: inbox.id,
      flags: [],
      internalDate: 0,
      saveDate: 0,
    });
    await u.mails.write(orphan);
    await u.io.remove(entries[0].mail); // the first message's bytes are lost
    await u.io.setXattr(entries[1].mail, 'rmb.rc', '9');
    const raw = (await u.io.omapGetByKeys(inbox.oid, ['h'])).get('h')!;
    const h = JSON.parse(raw.toString()) as Counters;
    await u.io.omapSet(inbox.oid, { h: JSON.stringify({ ...h, messages: h.messages + 2 }) });
    return { lost: entries[0].uid };
  });
  const found = await rmb('check', 'ops', '--grace-ms', '0', '--json');
  expect(found.code).toBe(1);
  expect(JSON.parse(found.out)[0].counts).toEqual({
    orphanMail: 1,
    missingMail: 1,
    refcount: 1,
    counters: 1,
    logGap: 0,
    orphanIndex: 0,
  });
  const text = await rmb('check', 'ops', '--grace-ms', '0', '--repair', '--verbose');
  expect(text.code).toBe(0);
  expect(text.out).toMatch(/missingMail INBOX UID \d+, Archive UID \d+: .* \(repaired\)/);
  const again = await rmb('check', '--all', '--grace-ms', '0', '--json');
  expect(again.code).toBe(0);
  expect(JSON.parse(again.out)[0].defects).toEqual([]);
  const after = await imapState('INBOX');
  const expected = { ...before.msgs };
  delete expected[String(planted.lost)];
  expect(after.msgs).toEqual(expected);
  expect(after.exists).toBe(before.exists - 1);
  // every message left is readable
  const c = await RawClient.greeted(srv.imap);
  await c.command('LOGIN ops pw');
  await c.command('SELECT INBOX');
  expect(await c.command('FETCH 1:* (BODY.PEEK[])')).not.toMatch(/NO /);
  c.close();
});
