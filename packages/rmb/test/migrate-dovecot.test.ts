/**
 * Issue 12, M1 and M2: a real Dovecot as the source, filled over LMTP with the whole test corpus,
 * then given flags, keywords, INTERNALDATEs, nested and non-ASCII folders, special-use folders and
 * subscriptions over IMAP. `rmb migrate sync` and `verify --level 2`, then the test compares both
 * servers over IMAP itself; an mbsync that synced the account from Dovecot, pointed at rmb with
 * its state kept, downloads nothing. Then a delta on Dovecot and a second sync (M2).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImapFlow } from 'imapflow';
import { type OutsidePart } from '@rmb/rados/testing';
import { outsideSuite } from '@rmb/rados/testing';
import {
  corpusFiles,
  DOVECOT,
  lmtpTransport,
  newDataDir,
  plainImapFlow,
  startDovecot,
  startServer,
  type ReferenceDovecot,
  type ServerChild,
} from './harness.js';
import { expectSameAccount, imapView, migrateCli, outcomes, tearDown, withImap } from './migrate-helpers.js';

const MBSYNC = '/usr/bin/mbsync';
const PARTS: OutsidePart = {
  part: 'Dovecot (dovecot-imapd dovecot-lmtpd) and mbsync (isync)',
  present: () => DOVECOT.present() && existsSync(MBSYNC),
  requiredBy: 'RMB_DOVECOT_REQUIRED',
  howTo: 'apt-get install dovecot-imapd dovecot-lmtpd isync && npm test',
};

outsideSuite('migration from a real Dovecot (issue 12: M1, M2)', PARTS, () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  let srv: ServerChild | undefined;
  let delivered = 0;
  const env = { DV_PW: 'alice-pw' };

  const withDovecot = <T>(fn: (c: ImapFlow) => Promise<T>) => withImap(dv.imap, 'alice', 'alice-pw', fn);

  async function views() {
    const source = await withDovecot(imapView);
    const c = plainImapFlow(srv!.imap, 'alice', 'rmb-pw');
    await c.connect();
    const rmb = await imapView(c);
    await c.logout();
    return { source, rmb };
  }

  beforeAll(async () => {
    dv = await startDovecot({ alice: 'alice-pw' });
    // the whole corpus over LMTP
    const t = lmtpTransport(dv.lmtp, { pool: true, maxMessages: Infinity });
    for (const f of corpusFiles()) {
      await t.sendMail({ envelope: { from: 'sender@example.org', to: ['alice'] }, raw: f.data });
      delivered++;
    }
    t.close();
    await withDovecot(async (c) => {
      for (const n of ['Sent', 'Trash', 'Archive', 'Work/Projekte Ärger', 'Work/Ελληνικά', 'Archiv/2019/Q1']) {
        await c.mailboxCreate(n);
      }
      for (const n of ['Privat.Notizen', 'ToDelete', 'Old Name']) await c.mailboxCreate(n);
      for (const n of ['Sent', 'Work/Projekte Ärger', 'Old Name', 'Privat.Notizen']) await c.mailboxSubscribe(n);
      await c.mailboxOpen('INBOX');
      const moves: [string, string][] = [
        ['1:200', 'Work/Projekte Ärger'],
        ['201:300', 'Archive'],
        ['301:350', 'Sent'],
        ['351:380', 'Work/Ελληνικά'],
        ['381:400', 'Trash'],
        ['401:420', 'ToDelete'],
        ['421:440', 'Old Name'],
        ['441:450', 'Privat.Notizen'],
      ];
      for (const [range, to] of moves) await c.messageMove(range, to, { uid: true });
      for (const box of ['INBOX', 'Work/Projekte Ärger', 'Old Name']) {
        await c.mailboxOpen(box);
        const uids = (await c.search({ all: true }, { uid: true })) || [];
        const every = (k: number) => uids.filter((u) => u % k === 0).join(',');
        const rules: [number, string[]][] = [
          [2, ['\\Seen']],
          [5, ['\\Flagged']],
          [7, ['\\Answered']],
          [11, ['\\Draft']],
          [13, ['\\Deleted']],
          [3, ['$Forwarded']],
          [4, ['$Label1']],
          [6, ['Projekt_X']],
          [9, ['$MDNSent', 'NonJunk']],
        ];
        for (const [k, flags] of rules) if (every(k)) await c.messageFlagsAdd(every(k), flags, { uid: true });
      }
      // messages with INTERNALDATEs of their own, in a nested folder and in INBOX
      const some = corpusFiles().slice(0, 50);
      for (let i = 0; i < some.length; i++) {
        const box = i < 40 ? 'Archiv/2019/Q1' : 'INBOX';
        const date = new Date(Date.UTC(2001 + (i % 19), i % 12, 1 + (i % 28), i % 24, i % 60, i % 60));
        await c.append(box, some[i].data, i % 2 ? ['\\Seen', '$Label2'] : ['\\Flagged'], date);
      }
    });
    dataDir = newDataDir({ alice: 'rmb-pw' });
    writeFileSync(join(dataDir, 'users.csv'), 'source_user,rmb_user,auth,secret\nalice,alice,password,env:DV_PW\n');
  }, 300000);

  afterAll(() => tearDown(srv, dv, dataDir));

  test('M1: sync and verify --level 2, then both servers compared over IMAP; mbsync downloads nothing', async () => {
    expect(delivered).toBe(corpusFiles().length);
    const imp = await migrateCli(dataDir, [
      'users',
      'import',
      join(dataDir, 'users.csv'),
      '--source',
      `imap://127.0.0.1:${dv.imap}`,
    ]);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    const plan = await migrateCli(dataDir, ['plan', '--json'], env);
    expect(plan.code).toBe(0);
    const planned = outcomes(plan).alice.detail as { messages: number; folders: number };
    expect(planned.messages).toBe(delivered + 50);

    const sync = await migrateCli(dataDir, ['sync', '--json'], env);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const done = outcomes(sync).alice as { detail: { counters: Record<string, number> } };
    expect(done.detail.counters.copied).toBe(delivered + 50);
    expect(sync.events.some((e) => e.type === 'progress')).toBe(true);

    const verify = await migrateCli(dataDir, ['verify', '--level', '2'], env);
    expect(verify.stdout).toMatch(/1 verified; exit 0/);
    expect(verify.code).toBe(0);

    srv = await startServer(dataDir);
    const { source, rmb } = await views();
    expect(Object.keys(source.folders).length).toBe(10);
    expect(source.noselect.sort()).toEqual(['Archiv', 'Archiv/2019', 'Work']);
    expect(source.folders['Work/Projekte Ärger'].messages.some((m) => m.flags.includes('Projekt_X'))).toBe(true);
    expect(source.folders['Sent'].specialUse).toBe('\\Sent');
    expectSameAccount(source, rmb);
    // HIGHESTMODSEQ at least the source's in every folder (a client's cached value stays valid)
    const modseqs = (c: ImapFlow) =>
      Promise.all(
        Object.keys(source.folders).map(async (n) => {
          const st = await c.status(n, { highestModseq: true });
          return st ? Number(st.highestModseq) : -1;
        }),
      );
    const [dvModseq, rmbModseq] = [await withDovecot(modseqs), await withImap(srv.imap, 'alice', 'rmb-pw', modseqs)];
    expect(dvModseq.every((m) => m > 0)).toBe(true);
    rmbModseq.forEach((m, i) => expect(m).toBeGreaterThanOrEqual(dvModseq[i]));
    // the user's own log of the run
    expect(readFileSync(join(dataDir, 'migrate-logs', 'alice.log'), 'utf8')).toMatch(/"type":"user-done"/);

    // mbsync: pull the account from Dovecot, then point the same channel (state kept) at rmb
    const local = join(dataDir, 'mbsync');
    mkdirSync(local);
    const rc = (host: string, port: number, pass: string, tls: string) => `IMAPAccount acct
Host ${host}
Port ${port}
User alice
Pass ${pass}
${tls}

IMAPStore remote
Account acct

MaildirStore local
Path ${local}/
Inbox ${local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Near
SyncState *
Sync Pull
Expunge None
`;
    const files = () =>
      readdirSync(local, { recursive: true })
        .map(String)
        .filter((f) => /\/(cur|new)\/[^/]+$/.test(f)).length;
    writeFileSync(join(dataDir, 'mbsyncrc'), rc('127.0.0.1', dv.imap, 'alice-pw', 'SSLType None'));
    // -Dn shows the IMAP commands: the pull from Dovecot fetches bodies (BODY.PEEK[])
    const first = execFileSync(MBSYNC, ['-c', join(dataDir, 'mbsyncrc'), '-a', '-Dn'], {
      encoding: 'utf8',
      stdio: 'pipe',
      maxBuffer: 1 << 30,
    });
    expect(first).toMatch(/BODY\.PEEK\[\]/);
    const pulled = files();
    // mbsync leaves out a few corpus mails it cannot store (and \Deleted ones); what it pulled is the baseline
    expect(pulled).toBeGreaterThan(1000);
    const cert = join(dataDir, 'tls', 'cert.pem');
    writeFileSync(
      join(dataDir, 'mbsyncrc'),
      rc('127.0.0.1', srv.imap, 'rmb-pw', `SSLType STARTTLS\nCertificateFile ${cert}`),
    );
    const out = execFileSync(MBSYNC, ['-c', join(dataDir, 'mbsyncrc'), '-a', '-Dn'], {
      encoding: 'utf8',
      stdio: 'pipe',
      maxBuffer: 1 << 30,
    });
    expect(files()).toBe(pulled);
    // nothing fetched: no message body came over the wire and no mailbox was re-synced from scratch
    // (Dovecot's \Noselect parents are plain mailboxes in rmb: mbsync creates them, empty, which is no download)
    expect(out).not.toMatch(/UIDVALIDITY (genuinely )?changed|could not|Error/i);
    expect(out).toMatch(/Logging in/);
    expect(out).not.toMatch(/BODY\.PEEK\[\]/);
  }, 300000);

  test('M2: a delta on Dovecot; the second sync fetches only the new bodies and makes rmb equal again', async () => {
    const prior = await withDovecot(imapView);
    const t = lmtpTransport(dv.lmtp);
    for (let i = 0; i < 5; i++) {
      await t.sendMail({
        envelope: { from: 'late@example.org', to: ['alice'] },
        raw: `From: late@example.org\r\nSubject: delta ${i}\r\nMessage-ID: <delta${i}@example.org>\r\n\r\nnew ${i}\r\n`,
      });
    }
    t.close();
    await withDovecot(async (c) => {
      await c.mailboxOpen('INBOX');
      const uids = ((await c.search({ all: true }, { uid: true })) || []).slice(0, 30);
      await c.messageFlagsAdd(uids.slice(0, 4).join(','), ['\\Seen', '$Delta'], { uid: true });
      await c.messageFlagsRemove(uids.slice(4, 10).join(','), ['\\Seen', '\\Flagged', '$Forwarded'], { uid: true });
      await c.messageDelete(uids.slice(20, 23).join(','), { uid: true });
      await c.mailboxCreate('Neu');
      await c.append('Neu', 'From: x@example.org\r\nSubject: neu 1\r\n\r\n1\r\n', ['\\Seen']);
      await c.append('Neu', 'From: x@example.org\r\nSubject: neu 2\r\n\r\n2\r\n');
      await c.mailboxRename('Old Name', 'New Name');
      await c.mailboxDelete('ToDelete');
      await c.mailboxUnsubscribe('Sent');
      await c.mailboxSubscribe('Archive');
    });
    const sync = await migrateCli(dataDir, ['sync', '--json'], env);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const counters = (outcomes(sync).alice as { detail: { counters: Record<string, number> } }).detail.counters;
    const after = await withDovecot(imapView);
    // the flag changes as Dovecot shows them: messages kept in a folder whose flags differ now
    let flagChanges = 0;
    for (const [name, f] of Object.entries(after.folders)) {
      const was = new Map((prior.folders[name]?.messages ?? []).map((m) => [m.uid, m.flags.join(' ')]));
      flagChanges += f.messages.filter((m) => was.has(m.uid) && was.get(m.uid) !== m.flags.join(' ')).length;
    }
    expect(flagChanges).toBeGreaterThanOrEqual(4);
    expect(counters).toMatchObject({
      copied: 7,
      expunged: 3,
      flagsChanged: flagChanges,
      foldersCreated: 1,
      foldersRenamed: 1,
      foldersDeleted: 1,
      foldersRecopied: 0,
    });
    const { source, rmb } = await views();
    expect(source.folders['New Name']).toBeDefined();
    expectSameAccount(source, rmb);
    const verify = await migrateCli(dataDir, ['verify', '--level', '2'], env);
    expect(verify.stdout).toMatch(/1 verified; exit 0/);
    expect(verify.code).toBe(0);
    const status = await migrateCli(dataDir, ['status', '--json']);
    const st = JSON.parse(status.stdout) as { users: { state: { status: string; deltas: number } }[] };
    expect(st.users[0].state).toMatchObject({ status: 'verified', deltas: 1 });
  }, 300000);
});
