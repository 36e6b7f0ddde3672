/**
 * Issue 15, O6: the admin CLI round trip. A user's mail (nested, dotted and non-ASCII mailbox
 * names, flags, keywords, INTERNALDATEs, a body with `From ` lines) is exported to a Maildir++ tree
 * and to mbox files with `rmb export`, imported into two new users with `rmb import`; over IMAP
 * the three users' mailboxes are then equal: names, flags, keywords, dates and bytes (and UIDs and
 * UIDVALIDITY, which both formats keep). Then `rmb user delete` removes one of them whole. While
 * `rmb serve` runs on the embedded store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmbOut, newDataDir, plainImapFlow, RawClient, startServer, type ServerChild } from './harness.js';

let dataDir: string;
let out: string;
let srv: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ src: 'pw' });
  out = mkdtempSync(join(tmpdir(), 'rmb-export-'));
  srv = await startServer(dataDir);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

const rmb = (...args: string[]) => rmbOut(dataDir, ...args);

/** Every mailbox of `user` over IMAP: name -> UIDVALIDITY and [uid, flags, INTERNALDATE ms, bytes] per message. */
async function snapshot(user: string): Promise<Record<string, unknown>> {
  const c = plainImapFlow(srv.imap, user, 'pw');
  await c.connect();
  const res: Record<string, unknown> = {};
  for (const box of await c.list()) {
    const open = await c.mailboxOpen(box.path, { readOnly: true });
    const msgs: unknown[] = [];
    if (open.exists)
      for await (const m of c.fetch('1:*', { uid: true, flags: true, internalDate: true, source: true }))
        msgs.push([
          m.uid,
          [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
          new Date(m.internalDate as Date).getTime(),
          m.source!.toString('base64'),
        ]);
    res[box.path] = { uidvalidity: String(open.uidValidity), msgs };
  }
  await c.logout();
  return res;
}

test('export to Maildir and mbox, import into new users: the same mail over IMAP', async () => {
  const c = await RawClient.greeted(srv.imap);
  await c.tagged('LOGIN src pw');
  for (const name of ['Work/Projects', 'Dots.in.name', 'M&APw-ll'])
    expect(await c.tagged(`CREATE "${name}"`)).toMatch(/OK/);
  const mail = (s: string, extra = '') =>
    `From: a@example.com\r\nTo: src@example.com\r\nSubject: ${s}\r\nMessage-ID: <${s}@x>\r\n\r\n` +
    `${extra}body of ${s}\r\n`;
  const appends: [string, string, string, string][] = [
    ['INBOX', '(\\Seen)', '"01-Feb-2020 10:00:00 +0000"', mail('one')],
    [
      'INBOX',
      '(\\Flagged \\Answered $Label1 Work)',
      '"02-Mar-2021 11:30:00 +0200"',
      mail('two', 'From the start\r\n>From quoted\r\n'),
    ],
    ['INBOX', '()', '"03-Apr-2022 23:59:59 -0500"', mail('three')],
    ['INBOX', '(\\Draft \\Seen)', '"04-May-2023 00:00:01 +0000"', mail('four', '\r\n\r\nblank lines above\r\n')],
    ['Work/Projects', '(\\Seen Work)', '"05-Jun-2019 08:00:00 +0000"', mail('five')],
    ['Work/Projects', '()', '"06-Jul-2018 09:00:00 +0000"', mail('six')],
    ['Dots.in.name', '(\\Flagged)', '"07-Aug-2017 12:00:00 +0000"', mail('seven')],
    ['M&APw-ll', '(\\Deleted \\Seen)', '"08-Sep-2016 13:00:00 +0000"', mail('eight')],
  ];
  for (const [box, flags, date, m] of appends)
    expect(await c.tagged(`APPEND "${box}" ${flags} ${date}`, m)).toMatch(/OK/);
  await c.tagged('SELECT INBOX');
  await c.tagged('UID STORE 3 +FLAGS ($Later)');
  await c.tagged('UID STORE 1 -FLAGS (\\Seen)');
  c.close();
  const before = await snapshot('src');
  expect(Object.keys(before).sort()).toEqual(
    ['Archive', 'Dots.in.name', 'Drafts', 'INBOX', 'Junk', 'Müll', 'Sent', 'Trash', 'Work', 'Work/Projects'].sort(),
  );

  expect(await rmb('export', 'src', join(out, 'maildir'), '--format', 'maildir')).toMatch(/10 mailboxes, 8 messages/);
  expect(await rmb('export', 'src', join(out, 'mbox'), '--format', 'mbox')).toMatch(/10 mailboxes, 8 messages/);
  for (const u of ['viamaildir', 'viambox']) await rmb('user', 'add', u, '-p', 'pw');
  await rmb('import', 'viamaildir', join(out, 'maildir'), '--format', 'maildir');
  await rmb('import', 'viambox', join(out, 'mbox'), '--format', 'mbox');
  expect(await snapshot('viamaildir')).toEqual(before);
  // an empty mbox file has no message to carry X-IMAPbase: its mailbox gets a new UIDVALIDITY
  const noEmptyUidvalidity = (s: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(s).map(([k, v]) => {
        const b = v as { uidvalidity: string; msgs: unknown[] };
        return [k, b.msgs.length ? b : { ...b, uidvalidity: '(empty)' }];
      }),
    );
  expect(noEmptyUidvalidity(await snapshot('viambox'))).toEqual(noEmptyUidvalidity(before));

  // the admin view of the same
  const status = JSON.parse(await rmb('mailbox', 'status', 'viambox', 'INBOX', '--json')) as { messages: number }[];
  expect(status[0].messages).toBe(4);
  expect(await rmb('mailbox', 'list', 'viamaildir')).toMatch(/Work\/Projects/);
  await rmb('mailbox', 'create', 'viamaildir', 'Fresh/Sub');
  await rmb('mailbox', 'rename', 'viamaildir', 'Fresh', 'Renamed');
  await rmb('mailbox', 'delete', 'viamaildir', 'Dots.in.name');
  const names = (JSON.parse(await rmb('mailbox', 'list', 'viamaildir', '--json')) as { mailbox: string }[]).map(
    (r) => r.mailbox,
  );
  expect(names).toEqual(expect.arrayContaining(['Renamed', 'Renamed/Sub']));
  expect(names).not.toContain('Fresh');
  expect(names).not.toContain('Dots.in.name');

  // a user deleted is gone whole: no login, no objects
  expect(await rmb('user', 'delete', 'viambox')).toMatch(/passwd entry removed, \d+ objects removed/);
  const gone = await RawClient.greeted(srv.imap);
  expect(await gone.tagged('LOGIN viambox pw')).toMatch(/NO/);
  gone.close();
  await expect(rmb('mailbox', 'list', 'viambox')).rejects.toThrow(/no mail store for user viambox/);
}, 120000);

test('rmb search, fetch and expunge answer as the IMAP server does', async () => {
  const c = await RawClient.greeted(srv.imap);
  await c.tagged('LOGIN src pw');
  await c.tagged('SELECT INBOX');
  const imapSearch = async (q: string) =>
    (/^\* SEARCH ?(.*)$/m.exec(await c.command(`UID SEARCH ${q}`))?.[1] ?? '')
      .trim()
      .split(' ')
      .filter(Boolean)
      .map(Number);
  for (const q of [
    'UNSEEN',
    'FROM a@example.com SUBJECT two',
    'OR KEYWORD Work DRAFT',
    'BODY "From the start"',
    'ALL',
  ]) {
    const viaCli = JSON.parse(await rmb('search', 'src', 'INBOX', ...q.split(' '), '--json')) as number[];
    expect([q, viaCli]).toEqual([q, await imapSearch(q)]);
  }
  expect(JSON.parse(await rmb('search', 'src', 'INBOX', 'UNSEEN', '--json'))).toEqual([1, 2, 3]);
  const two = JSON.parse(await rmb('fetch', 'src', 'INBOX', '2', '--fields', 'uid,flags,hdr,guid', '--json')) as Record<
    string,
    string
  >[];
  expect(two).toHaveLength(1);
  expect(two[0].flags.split(' ').sort()).toEqual(['$Label1', 'Work', '\\Answered', '\\Flagged'].sort());
  expect(two[0].hdr).toMatch(/^From: a@example.com\r\n[\s\S]*Subject: two\r\n[\s\S]*\r\n\r\n$/);
  expect(two[0].guid).toMatch(/^M[0-9a-f-]{36}$/);
  const range = JSON.parse(await rmb('fetch', 'src', 'INBOX', '2:*', '--fields', 'uid', '--json')) as { uid: string }[];
  expect(range.map((r) => r.uid)).toEqual(['2', '3', '4']);
  expect(await rmb('expunge', 'src', 'INBOX', 'SUBJECT', 'three')).toBe('1 expunged\n');
  await c.command('NOOP');
  expect(await imapSearch('ALL')).toEqual([1, 2, 4]);
  c.close();
});
