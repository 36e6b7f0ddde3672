/** The users file: CSV and JSONL rows, every bad row reported in one pass, secrets by reference only. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MigrateConfigError,
  parseUsers,
  resolveSecret,
  parseSourceUri,
  rmbName,
  specialUseByName,
} from '../src/index.js';

test('a CSV with a header: defaults, waves, master users, per-row sources', () => {
  const rows = parseUsers(
    'source_user,rmb_user,auth,secret,master_user,wave,source\n' +
      'alice@old.example,alice,password,env:ALICE_PW,,w1,\n' +
      'bob@old.example,bob,master,file:/etc/rmb/master.pw,admin,w2,imaps://mail.old.example:993\n' +
      '"carol, jr",carol,none,,,,maildir:/srv/mail/%u\n',
  );
  expect(rows).toEqual([
    { sourceUser: 'alice@old.example', rmbUser: 'alice', auth: 'password', secret: 'env:ALICE_PW', wave: 'w1' },
    {
      sourceUser: 'bob@old.example',
      rmbUser: 'bob',
      auth: 'master',
      secret: 'file:/etc/rmb/master.pw',
      masterUser: 'admin',
      wave: 'w2',
      source: 'imaps://mail.old.example:993',
    },
    { sourceUser: 'carol, jr', rmbUser: 'carol', auth: 'none', source: 'maildir:/srv/mail/%u' },
  ]);
});

test('every bad row is reported with its line, and nothing is accepted', () => {
  const text =
    'source_user,rmb_user,auth,secret\n' +
    'a,a,password,env:A\n' +
    'b,b,password,\n' + // no secret
    'c,c,password,hunter2\n' + // a password, not a reference
    'd,d b,password,env:D\n' + // a space in the rmb user
    'e,a,password,env:E\n' + // duplicate rmb user
    'f,f,master,env:F\n' + // master without master_user
    'g,g,sorcery,env:G\n'; // unknown auth
  let err: MigrateConfigError | undefined;
  try {
    parseUsers(text);
  } catch (e) {
    err = e as MigrateConfigError;
  }
  expect(err).toBeInstanceOf(MigrateConfigError);
  expect(err!.exitCode).toBe(78);
  expect(err!.rows.map((r) => r.line)).toEqual([3, 4, 5, 6, 7, 8]);
  expect(err!.rows[1].message).toMatch(/secret must be env:NAME or file:/);
  expect(err!.rows[3].message).toMatch(/already on line 2/);
  // the password itself never appears in the error
  expect(JSON.stringify(err!.rows)).not.toMatch(/hunter2/);
});

test('JSONL rows; a broken line is a bad row; an empty file has no rows', () => {
  expect(parseUsers('{"source_user":"x","rmb_user":"x","secret":"env:X"}\n')).toHaveLength(1);
  expect(() => parseUsers('{"source_user":"x","rmb_user":"x","secret":"env:X"}\n{oops\n')).toThrow(/1 bad row/);
  expect(() => parseUsers('{"source_user":"x","rmb_user":"x","secret":"env:X","colour":"red"}\n')).toThrow(/bad row/);
  expect(() => parseUsers('source_user,rmb_user\n')).toThrow(/bad row/);
});

test('secrets resolve from the environment or the first line of a file', () => {
  process.env.RMB_TEST_SECRET = 's3cret';
  expect(resolveSecret('env:RMB_TEST_SECRET')).toBe('s3cret');
  const f = join(mkdtempSync(join(tmpdir(), 'rmb-secret-')), 'pw');
  writeFileSync(f, 'from-file\nignored\n');
  expect(resolveSecret(`file:${f}`)).toBe('from-file');
  expect(() => resolveSecret('env:RMB_TEST_NOT_SET')).toThrow(MigrateConfigError);
  expect(() => resolveSecret('file:/nonexistent/pw')).toThrow(/ENOENT/);
});

test('source URIs, folder name mapping and localized special-use names', () => {
  expect(parseSourceUri('imap://h')).toMatchObject({ kind: 'imap', host: 'h', port: 143, secure: false });
  expect(parseSourceUri('imaps://h:1993?insecure')).toMatchObject({ port: 1993, secure: true, insecure: true });
  expect(parseSourceUri('maildir:/m/%u:LAYOUT=fs')).toEqual({ kind: 'maildir', path: '/m/%u', layout: 'fs' });
  expect(() => parseSourceUri('pop3://h')).toThrow(MigrateConfigError);
  expect(() => parseSourceUri('maildir:relative')).toThrow(/absolute/);
  expect(rmbName('INBOX.Sent.2019/20', '.')).toBe('INBOX/Sent/2019_20');
  expect(rmbName('inbox', '/')).toBe('INBOX');
  expect(rmbName('a.b', '/')).toBe('a.b');
  for (const [n, u] of [
    ['Sent Items', '\\Sent'],
    ['Gesendete Elemente', '\\Sent'],
    ['Éléments envoyés', '\\Sent'],
    ['Elementos enviados', '\\Sent'],
    ['Deleted Items', '\\Trash'],
    ['Junk E-Mail', '\\Junk'],
    ['Spam', '\\Junk'],
    ['Entwürfe', '\\Drafts'],
  ]) {
    expect(specialUseByName(n, '/')).toBe(u);
  }
  expect(specialUseByName('Projects/Sent Items', '/')).toBeNull();
});
