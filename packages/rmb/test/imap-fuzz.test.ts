/**
 * Issue 4, C5 (server): mutated command lines sent to a live IMAP session (logged in, a mailbox
 * with mail selected). After every input a sentinel NOOP with its own tag must be answered:
 * the session survives everything and keeps answering. Inputs that open a literal are completed
 * with filler bytes (as a client would have to). The server process is this one: a crash would
 * fail the test run. Seeded: a failure names its seed and index.
 */
import { seededRandom as prng } from '@rmb/rados/testing';
import { inProcessServer, RawClient } from './harness.js';

const VALID = [
  'FETCH 1:* (FLAGS UID RFC822.SIZE)',
  'UID FETCH 1,3:5,7:* (BODY.PEEK[HEADER.FIELDS (From To Subject)]<0.100> ENVELOPE)',
  'FETCH 2 (BODY[1.2.MIME] BINARY.PEEK[1] BINARY.SIZE[2] BODYSTRUCTURE)',
  'SEARCH CHARSET UTF-8 OR FROM "x" NOT SUBJECT y SINCE 1-Jan-2020',
  'UID SEARCH UNSEEN LARGER 100 HEADER X-Spam yes UID 1:10 BODY "a b"',
  'STORE 1:3 +FLAGS.SILENT (\\Seen $Label1)',
  'UID STORE 5 FLAGS ()',
  'LIST "" "*"',
  'STATUS INBOX (MESSAGES UIDNEXT UNSEEN)',
  'COPY 1:2 Trash',
  'CREATE "a/b"',
  'RENAME "a/b" "c"',
  'DELETE c',
  'SELECT INBOX',
  'EXAMINE Trash',
  'CHECK',
  'ENABLE CONDSTORE',
  'NAMESPACE',
  'ID NIL',
  'UID EXPUNGE 999',
  'UNSELECT',
  'SELECT INBOX',
];
const SPECIAL = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '"',
  '\\',
  '*',
  '%',
  ' ',
  '<',
  '>',
  '.',
  ':',
  ',',
  '$',
  '{5}',
  '{3+}',
  '\u00e9',
  '\t',
  'NIL',
  '1:*',
  '~{2}',
];

function mutate(r: () => number, s: string): string {
  let out = s;
  for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) {
    const pos = Math.floor(r() * (out.length + 1));
    const k = Math.floor(r() * 4);
    if (k === 0) out = out.slice(0, pos) + SPECIAL[Math.floor(r() * SPECIAL.length)] + out.slice(pos);
    else if (k === 1) out = out.slice(0, pos) + out.slice(pos + 1 + Math.floor(r() * 4));
    else if (k === 2) out = out.slice(0, pos) + String.fromCharCode(32 + Math.floor(r() * 95)) + out.slice(pos + 1);
    else out = out.slice(0, pos);
  }
  return out;
}

test('20,000 mutated commands to a live session: after each one a sentinel NOOP is answered', async () => {
  const SEED = 4242;
  const r = prng(SEED);
  const srv = await inProcessServer({ maxLiteralBytes: 4096, streamLiteralBytes: 1024 });
  const user = await srv.store.user('fuzz');
  for (let i = 0; i < 5; i++) {
    await user.appendTo('INBOX', [
      {
        data: Buffer.from(
          `From: a@example.org\r\nSubject: m${i}\r\nContent-Type: multipart/mixed; ` +
            `boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n`,
        ),
      },
    ]);
  }
  const port = srv.port;
  const open = async () => {
    const c = await RawClient.open(port);
    await c.until(/^\* OK/m);
    c.send('l LOGIN fuzz pw\r\ns SELECT INBOX\r\n');
    await c.until(/^s OK/m);
    return c;
  };
  let c = await open();
  let reconnects = 0;
  try {
    for (let i = 0; i < 20000; i++) {
      const line = mutate(r, `f${i} ${VALID[Math.floor(r() * VALID.length)]}`);
      c.send(`${line}\r\n`);
      // an input ending in a literal header waits for its bytes, as on the wire: send them
      if (/\{\d+\+?\}$/.test(line)) c.send(`${'x'.repeat(5000)}\r\n`);
      c.send(`z${i} NOOP\r\n`);
      const sentinel = new RegExp(`^z${i} (OK|BAD|NO)`, 'm');
      try {
        await c.until(sentinel, 1500);
      } catch {
        // a literal opened by the input is waiting for bytes: complete it, then the sentinel again
        c.send(`${'x'.repeat(5000)}\r\nz${i} NOOP\r\n`);
        try {
          await c.until(sentinel, 5000);
        } catch (e) {
          if (c.sock.destroyed) {
            c = await open();
            reconnects++;
            continue;
          } // a BYE is an answer too
          throw new Error(
            `no answer after input #${i} (seed ${SEED}): ${JSON.stringify(line)}: ${(e as Error).message}`,
          );
        }
      }
    }
    expect(reconnects).toBeLessThan(200);
  } finally {
    c.close();
    await srv.close();
  }
}, 300000);
