/**
 * The Maildir source on hand-made trees: Dovecot's dovecot-uidlist (v3) and dovecot-keywords,
 * flags in file names, a file Dovecot has not listed yet, subscriptions (v2), modified UTF-7 and
 * 8-bit folder names, a 0-byte message, LAYOUT=fs, and a plain Maildir without dovecot-uidlist.
 * Each tree is synced into the memory store and verified at level 2.
 */
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Cluster } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import {
  DEFAULT_SYNC,
  MigrationState,
  UserSync,
  differenceCount,
  openMaildirSource,
  verifyUser,
} from '../src/index.js';

let cluster: Cluster;
let store: MailStore;
let state: MigrationState;
beforeEach(async () => {
  cluster = await connect({ backend: 'memory' });
  store = await MailStore.open(cluster);
  state = new MigrationState(await cluster.ioCtx('mail', 'migrate'));
  await state.importUsers([{ sourceUser: 'u', rmbUser: 'u', auth: 'none' }]);
});
afterEach(() => cluster.close());

function folder(dir: string | Buffer) {
  for (const s of ['cur', 'new', 'tmp'])
    mkdirSync(Buffer.isBuffer(dir) ? Buffer.concat([dir, Buffer.from('/' + s)]) : join(dir, s), { recursive: true });
}
function mail(dir: string, sub: 'cur' | 'new', name: string, body: string, mtime: number) {
  const p = join(dir, sub, name);
  writeFileSync(p, body);
  utimesSync(p, mtime / 1000, mtime / 1000);
}
const T = Date.UTC(2019, 4, 1, 12, 0, 0);
const LF = (i: number) => `From: a@example.org\nSubject: lf ${i}\n\nline one\nline two\n`;
/** Dovecot's W= (the size with CRLF line ends). */
const crlfSize = (i: number) => LF(i).replace(/\n/g, '\r\n').length;

async function run(root: string, layout: 'maildir++' | 'fs') {
  const src = await openMaildirSource(root, layout);
  const s = new UserSync(store, state, 'u', src, { ...DEFAULT_SYNC, chunkMessages: 3 });
  const counters = await s.run();
  const v = await verifyUser(store, 'u', src, 2);
  return { counters, v };
}

async function entries(name: string) {
  const u = await store.user('u');
  const mb = await u.mailbox(name);
  return { counters: await mb.counters(), entries: await mb.entries(), u };
}

test('Maildir++ made by Dovecot: uidlist UIDs, keywords, flags, dates, names, subscriptions', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rmb-maildir-'));
  folder(root);
  writeFileSync(
    join(root, 'dovecot-uidlist'),
    `3 V1556000000 N12 Gabc\n3 :1556700000.M1P1.host,S=55\n` +
      `7 :1556700001.M2P1.host,S=55,W=${crlfSize(2)}\n9 :1556700002.M3P1.host\n`,
  );
  writeFileSync(join(root, 'dovecot-keywords'), '0 $Forwarded\n1 Project X\n2 $Junk\n');
  mail(root, 'cur', '1556700000.M1P1.host,S=55:2,FS', LF(1), T);
  mail(root, 'cur', `1556700001.M2P1.host,S=55,W=${crlfSize(2)}:2,RSab`, LF(2), T + 1000);
  mail(root, 'cur', '1556700002.M3P1.host:2,', '', T + 2000); // a 0-byte message
  mail(root, 'new', '1556700003.M4P1.host', LF(4), T + 3000); // not listed yet: gets UID 12 (UIDNEXT)
  const ent = join(root, '.Entw&APw-rfe');
  folder(ent);
  writeFileSync(join(ent, 'dovecot-uidlist'), '3 V1556000001 N3\n2 :1556700010.M1P2.host\n');
  mail(ent, 'cur', '1556700010.M1P2.host:2,DS', LF(10), T);
  folder(join(root, '.Work.2019'));
  const latin1 = Buffer.concat([Buffer.from(root + '/.Caf'), Buffer.from([0xe9])]);
  folder(latin1);
  writeFileSync(join(root, 'subscriptions'), 'V\t2\n\nINBOX\nWork\t2019\n');
  const { counters, v } = await run(root, 'maildir++');
  expect(counters.copied).toBe(5);
  expect(v.differences).toEqual({});
  const inbox = await entries('INBOX');
  expect(inbox.counters).toMatchObject({ uidvalidity: 1556000000, uidnext: 13, messages: 4 });
  expect(inbox.entries.map((e) => [e.uid, [...e.flags].sort(), e.internalDate])).toEqual([
    [3, ['\\Flagged', '\\Seen'], T],
    [7, ['$Forwarded', 'Project X', '\\Answered', '\\Seen'], T + 1000],
    [9, [], T + 2000],
    [12, [], T + 3000],
  ]);
  // the bytes as IMAP serves them: CRLF line ends (RFC822.SIZE counts them)
  const first = await inbox.u.messageBytes(inbox.entries[0]);
  expect(first.toString()).toBe(LF(1).replace(/\n/g, '\r\n'));
  expect(inbox.entries[0].size).toBe(first.length);
  expect(inbox.entries[2].size).toBe(0);
  const u = await store.user('u');
  const names = (await u.mailboxes()).map((b) => [b.name, b.specialUse]);
  expect(names).toEqual(
    expect.arrayContaining([
      ['Entwürfe', '\\Drafts'],
      ['Work/2019', null],
      ['Caf\u00e9', null],
    ]),
  );
  expect((await u.subscriptions()).sort()).toEqual(['INBOX', 'Work/2019']);
  expect((await entries('Entwürfe')).counters).toMatchObject({ uidvalidity: 1556000001, uidnext: 3 });
  // a second run finds nothing to do
  const again = await run(root, 'maildir++');
  expect(again.counters).toMatchObject({ copied: 0, flagsChanged: 0, expunged: 0 });
});

test('LAYOUT=fs, and a plain Maildir without dovecot-uidlist (UIDs in delivery order, stable)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rmb-maildir-fs-'));
  folder(root);
  folder(join(root, 'Work'));
  folder(join(root, 'Work', 'Sub'));
  // delivery order is the time stamp that starts the name, not the directory order
  mail(join(root, 'Work', 'Sub'), 'cur', '1600000300.c.host:2,S', LF(3), T + 3000);
  mail(join(root, 'Work', 'Sub'), 'new', '1600000100.a.host', LF(1), T + 1000);
  mail(join(root, 'Work', 'Sub'), 'cur', '1600000200.b.host:2,F', LF(2), T + 2000);
  mail(root, 'new', '1600000000.x.host', LF(0), T);
  const { counters, v } = await run(root, 'fs');
  expect(counters.copied).toBe(4);
  expect(differenceCount(v)).toBe(0);
  const sub = await entries('Work/Sub');
  expect(sub.entries.map((e) => [e.uid, e.flags])).toEqual([
    [1, []],
    [2, ['\\Flagged']],
    [3, ['\\Seen']],
  ]);
  const again = await run(root, 'fs');
  expect(again.counters).toMatchObject({ copied: 0, expunged: 0, foldersRecopied: 0 });
});
