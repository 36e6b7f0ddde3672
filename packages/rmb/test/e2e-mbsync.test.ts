/**
 * A3: mbsync (Debian isync) syncs the whole account to a local Maildir over STARTTLS, then pushes
 * a new mail and a flag change back; the server shows both.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientPart, newDataDir, startServer, type ServerChild, plainImapFlow, lmtpTransport } from './harness.js';
import { outsideSuite } from '@rmb/rados/testing';

const MBSYNC = '/usr/bin/mbsync';
outsideSuite('mbsync, a real client', clientPart(MBSYNC, 'isync'), () => {
  let dataDir: string;
  let srv: ServerChild;

  beforeAll(async () => {
    dataDir = newDataDir({ erin: 'erin-pw' });
    srv = await startServer(dataDir);
  }, 60000);
  afterAll(async () => {
    await srv?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function mbsync(rc: string): string {
    return execFileSync(MBSYNC, ['-c', rc, '-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  test('mbsync pulls the account, then pushes a new mail and a flag change back', async () => {
    const t = lmtpTransport(srv.lmtp, { pool: true });
    for (let i = 1; i <= 5; i++)
      await t.sendMail({
        envelope: { from: 'x@example.org', to: ['erin@example.org'] },
        raw: `Subject: pull ${i}\r\nMessage-ID: <pull${i}@example.org>\r\n\r\nbody ${i}\r\n`,
      });
    t.close();
    const local = join(dataDir, 'maildir');
    mkdirSync(local, { recursive: true });
    const rc = join(dataDir, 'mbsyncrc');
    writeFileSync(
      rc,
      `IMAPAccount rmb
  Host 127.0.0.1
  Port ${srv.imap}
  User erin
  Pass erin-pw
  SSLType STARTTLS
  CertificateFile ${join(dataDir, 'tls', 'cert.pem')}

  IMAPStore remote
  Account rmb

  MaildirStore local
  Path ${local}/
  Inbox ${local}/INBOX
  SubFolders Verbatim

  Channel all
  Far :remote:
  Near :local:
  Patterns *
  Create Both
  SyncState *
  Sync All
  Expunge None
  `,
    );
    mbsync(rc);
    const cur = (box: string) =>
      ['cur', 'new'].flatMap((d) => {
        const p = join(local, box, d);
        return existsSync(p) ? readdirSync(p).map((f) => join(p, f)) : [];
      });
    expect(cur('INBOX').length).toBe(5);
    for (const b of ['Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) expect(existsSync(join(local, b))).toBe(true);
    // flag a pulled mail as seen+flagged locally, and add a new local mail to Sent
    const first = cur('INBOX').sort()[0];
    const base = first.split('/').pop()!.split(':2,')[0];
    renameSync(first, join(local, 'INBOX', 'cur', `${base}:2,FS`));
    writeFileSync(
      join(local, 'Sent', 'new', `${Date.now()}.1.rmbtest`),
      'From: erin@example.org\r\nSubject: pushed by mbsync\r\nMessage-ID: <push1@example.org>\r\n\r\nhello\r\n',
    );
    mbsync(rc);
    const c = plainImapFlow(srv.imap, 'erin', 'erin-pw');
    await c.connect();
    let lock = await c.getMailboxLock('Sent');
    const sent = await c.search({ subject: 'pushed by mbsync' });
    expect((sent || []).length).toBe(1);
    lock.release();
    lock = await c.getMailboxLock('INBOX');
    const flagged = await c.search({ flagged: true, seen: true });
    expect((flagged || []).length).toBe(1);
    lock.release();
    await c.logout();
  }, 120000);

  test(
    'AUTH=SCRAM-SHA-256 with a real client: mbsync through Cyrus SASL logs in with SCRAM only; a ' +
      'wrong password fails',
    async () => {
      const rcFor = (pass: string, dir: string) => {
        mkdirSync(dir, { recursive: true });
        const rc = join(dataDir, `mbsyncrc-scram-${pass}`);
        writeFileSync(
          rc,
          `IMAPAccount scram
  Host 127.0.0.1
  Port ${srv.imap}
  User erin
  Pass ${pass}
  SSLType None
  AuthMechs SCRAM-SHA-256

  IMAPStore remote
  Account scram

  MaildirStore local
  Path ${dir}/
  Inbox ${dir}/INBOX

  Channel inbox
  Far :remote:INBOX
  Near :local:INBOX
  Create Near
  SyncState *
  Sync Pull
  `,
        );
        return rc;
      };
      const dir = join(dataDir, 'maildir-scram');
      mbsync(rcFor('erin-pw', dir));
      const got = ['cur', 'new'].flatMap((d) => {
        const p = join(dir, 'INBOX', d);
        return existsSync(p) ? readdirSync(p) : [];
      });
      expect(got.length).toBe(5);
      expect(() => mbsync(rcFor('wrong-pw', join(dataDir, 'maildir-scram2')))).toThrow();
    },
    120000,
  );
});
