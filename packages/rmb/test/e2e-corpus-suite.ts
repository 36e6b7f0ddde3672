/**
 * A2 (embedded store) and B2 (Ceph): the whole shared corpus delivered over LMTP by nodemailer (two recipients per
 * transaction),
 * read back with imapflow and Python's imaplib byte for byte; STORE/COPY/MOVE/EXPUNGE/SEARCH;
 * then a restart keeps every UID and UIDVALIDITY.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import {
  asServed,
  asTransferred,
  corpusFiles,
  newDataDir,
  startServer,
  storeSets,
  type Backend,
  type ServerChild,
  lmtpTransport,
} from './harness.js';

const SENDER = 'sender@example.org';
const USERS = { alice: 'alice-pw', bob: 'bob-pw' };
const corpus = corpusFiles();
/** What BODY[] returns: the delivered bytes, NUL sent as 0x80 (a literal cannot carry NUL, RFC 3501 §9). */
const expected = (rcpt: string, data: Buffer) =>
  asServed(Buffer.concat([Buffer.from(`Return-Path: <${SENDER}>\r\nDelivered-To: ${rcpt}\r\n`), asTransferred(data)]));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Register the suite for rmb on `backend`. */
export function corpusSuite(backend: Backend): void {
  describe(`end to end on the ${backend} store`, () => {
    let dataDir: string;
    let srv: ServerChild;
    const sets = storeSets(backend);
    beforeAll(async () => {
      dataDir = newDataDir(USERS);
      srv = await startServer(dataDir, sets);
    }, 120000);
    afterAll(async () => {
      await srv?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const imap = async (user: keyof typeof USERS) => {
      const c = new ImapFlow({
        host: '127.0.0.1',
        port: srv.imap,
        secure: false,
        doSTARTTLS: false,
        auth: { user, pass: USERS[user] },
        logger: false,
      });
      await c.connect();
      return c;
    };

    test('every corpus mail is delivered over LMTP to two recipients in one transaction', async () => {
      expect(corpus.length).toBeGreaterThan(1000);
      // one pooled connection, as an MTA reuses its LMTP connections (smtp-server delays each greeting by 100 ms)
      const t = lmtpTransport(srv.lmtp, { pool: true, maxConnections: 1, maxMessages: Infinity });
      for (const m of corpus) {
        const info = await t.sendMail({
          envelope: { from: SENDER, to: ['alice@example.org', 'bob@example.org'] },
          raw: m.data,
        });
        expect({
          path: m.path,
          accepted: info.accepted,
          rejected: info.rejected,
          err: (info as { rejectedErrors?: Error[] }).rejectedErrors?.map((e) => e.message),
        }).toEqual({ path: m.path, accepted: ['alice@example.org', 'bob@example.org'], rejected: [], err: undefined });
      }
      t.close();
    }, 600000);

    test(
      'imapflow: BODY[] equals the delivered bytes, RFC822.SIZE its length, BODYSTRUCTURE and ' + 'ENVELOPE parse',
      async () => {
        const c = await imap('alice');
        const lock = await c.getMailboxLock('INBOX');
        try {
          let i = 0;
          for await (const msg of c.fetch('1:*', {
            uid: true,
            source: true,
            size: true,
            envelope: true,
            bodyStructure: true,
          })) {
            const want = expected('alice@example.org', corpus[i].data);
            expect({ path: corpus[i].path, same: msg.source!.equals(want) }).toEqual({
              path: corpus[i].path,
              same: true,
            });
            expect(msg.size).toBe(want.length);
            expect(msg.uid).toBe(i + 1);
            expect(msg.envelope).toBeDefined();
            expect(msg.bodyStructure?.type).toMatch(/\//);
            i++;
          }
          expect(i).toBe(corpus.length);
        } finally {
          lock.release();
          await c.logout();
        }
      },
      300000,
    );

    test('Python imaplib: every BODY[] and RFC822.SIZE matches for the second recipient', () => {
      const script = join(dataDir, 'fetch.py');
      writeFileSync(
        script,
        `
import imaplib, hashlib, json, re, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('bob', 'bob-pw')
typ, data = m.select('INBOX')
n = int(data[0])
out = []
for start in range(1, n + 1, 200):
    typ, data = m.uid('FETCH', '%d:%d' % (start, min(n, start + 199)), '(UID RFC822.SIZE BODY.PEEK[])')
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb'UID (\\d+)', item[0]).group(1))
            size = int(re.search(rb'RFC822.SIZE (\\d+)', item[0]).group(1))
            out.append([uid, size, hashlib.sha256(item[1]).hexdigest()])
m.logout()
print(json.dumps(out))
`,
      );
      const res = JSON.parse(
        execFileSync('python3', [script, String(srv.imap)], { maxBuffer: 64 << 20 }).toString(),
      ) as [number, number, string][];
      expect(res.length).toBe(corpus.length);
      res.forEach(([uid, size, h], i) => {
        const want = expected('bob@example.org', corpus[i].data);
        expect([uid, size, h]).toEqual([i + 1, want.length, sha(want)]);
      });
    }, 300000);

    test('STORE, COPY, MOVE, EXPUNGE and SEARCH give the right answers', async () => {
      const c = await imap('alice');
      await c.mailboxCreate('SearchTest');
      const day = (d: string) => new Date(`${d}T12:00:00Z`);
      const msgs = [
        { from: 'Ann <ann@one.example>', subject: 'Grüße aus Köln', date: day('2020-01-10'), body: 'short' },
        { from: 'Bob <bob@two.example>', subject: 'Quarterly report', date: day('2021-06-01'), body: 'x'.repeat(5000) },
        { from: 'ann@one.example', subject: 'Re: Grüße aus Köln', date: day('2022-03-03'), body: 'reply' },
        {
          from: 'Carl <carl@three.example>',
          subject: 'Ünïcödé test',
          date: day('2023-09-09'),
          body: 'y'.repeat(20000),
        },
      ];
      for (const m of msgs) {
        const raw =
          `From: ${m.from}\r\nTo: alice@example.org\r\nSubject: ` +
          `=?UTF-8?B?${Buffer.from(m.subject).toString('base64')}?=\r\nDate: ${m.date.toUTCString()}\r\n` +
          `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${m.body}\r\n`;
        await c.append('SearchTest', raw, [], m.date);
      }
      const lock = await c.getMailboxLock('SearchTest');
      try {
        const uids = async (q: object) => ((await c.search(q, { uid: true })) || []).sort((a, b) => a - b);
        const expectUids = (pred: (m: (typeof msgs)[number], i: number) => boolean) =>
          msgs.map((m, i) => (pred(m, i) ? i + 1 : 0)).filter(Boolean);
        expect(await uids({ from: 'ann@one.example' })).toEqual(expectUids((m) => m.from.includes('ann@one.example')));
        expect(await uids({ subject: 'grüße' })).toEqual(expectUids((m) => m.subject.toLowerCase().includes('grüße')));
        expect(await uids({ subject: 'Ünïcödé' })).toEqual(expectUids((m) => m.subject.includes('Ünïcödé')));
        // a day boundary (midnight): imapflow sends SINCE as YOUNGER <seconds> when WITHIN is offered,
        // and the two agree only away from a mail's exact time
        const midnight = new Date('2021-06-01T00:00:00Z');
        expect(await uids({ since: midnight })).toEqual(expectUids((m) => m.date >= midnight));
        expect(await uids({ larger: 4000 })).toEqual(expectUids((m) => m.body.length > 4000));
        expect(await uids({ uid: '2:3' })).toEqual([2, 3]);
        expect(await uids({ seen: false })).toEqual([1, 2, 3, 4]);
        await c.messageFlagsAdd('1:2', ['\\Seen'], { uid: true });
        expect(await uids({ seen: false })).toEqual([3, 4]);
        expect(await uids({ or: [{ seen: false }, { from: 'bob@two.example' }] })).toEqual([2, 3, 4]);
        const copied = await c.messageCopy('1', 'Archive', { uid: true });
        expect(copied && copied.uidMap?.size).toBe(1);
        const moved = await c.messageMove('4', 'Trash', { uid: true });
        expect(moved && moved.uidMap?.size).toBe(1);
        expect(await uids({ all: true })).toEqual([1, 2, 3]);
        await c.messageFlagsAdd('2', ['\\Deleted'], { uid: true });
        await c.messageDelete('2', { uid: true });
        expect(await uids({ all: true })).toEqual([1, 3]);
        const flags = [];
        for await (const m of c.fetch('1:*', { uid: true, flags: true }, { uid: true }))
          flags.push([m.uid, [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort()]);
        expect(flags).toEqual([
          [1, ['\\Seen']],
          [3, []],
        ]);
      } finally {
        lock.release();
      }
      const st = await c.status('Trash', { messages: true });
      expect(st && st.messages).toBe(1);
      await c.logout();
    }, 60000);

    test('after a restart every mail is there with the same UIDs and UIDVALIDITY', async () => {
      const before = await imap('alice');
      const s1 = await before.status('INBOX', { messages: true, uidValidity: true, uidNext: true });
      const uids1: number[] = [];
      const lock1 = await before.getMailboxLock('INBOX');
      for await (const m of before.fetch('1:*', { uid: true })) uids1.push(m.uid);
      lock1.release();
      await before.logout();
      await srv.stop();
      srv = await startServer(dataDir, sets);
      const after = await imap('alice');
      const s2 = await after.status('INBOX', { messages: true, uidValidity: true, uidNext: true });
      expect(s2).toEqual(s1);
      const lock = await after.getMailboxLock('INBOX');
      const uids2: number[] = [];
      let checked = 0;
      for await (const m of after.fetch('1:*', { uid: true, source: true })) {
        uids2.push(m.uid);
        const i = m.uid - 1;
        expect(m.source!.equals(expected('alice@example.org', corpus[i].data))).toBe(true);
        checked++;
      }
      lock.release();
      expect(uids2).toEqual(uids1);
      expect(checked).toBe(corpus.length);
      await after.logout();
    }, 300000);
  });
}
