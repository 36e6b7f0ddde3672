/**
 * Issue 4: CONDSTORE and QRESYNC (RFC 7162) on an in-process server. C3: a client disconnects,
 * another session changes flags, expunges and appends, the first reconnects with
 * SELECT (QRESYNC (uidvalidity modseq known-uids)) and gets exactly the VANISHED and FETCH it
 * needs; the same through UID FETCH (CHANGEDSINCE VANISHED); STORE UNCHANGEDSINCE conflicts give
 * [MODIFIED]; expunges reach a QRESYNC session as VANISHED; STATUS and SEARCH MODSEQ.
 */
import { inProcessServer, RawClient, type InProcessServer } from './harness.js';

let srv: InProcessServer;
let port: number;
beforeAll(async () => {
  srv = await inProcessServer();
  port = srv.port;
  const user = await srv.store.user('q');
  for (let i = 1; i <= 5; i++)
    await user.appendTo('INBOX', [{ data: Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`) }]);
});
afterAll(async () => {
  await srv.close();
});

/** A logged-in raw session (RawClient.lines gives the untagged lines and the tagged one). */
async function session(): Promise<RawClient> {
  const c = await RawClient.greeted(port, 'c');
  expect((await c.lines('LOGIN q pw')).tagged).toMatch(/OK/);
  return c;
}
const num = (lines: string[], re: RegExp) => Number(lines.map((l) => re.exec(l)?.[1]).find(Boolean));

test(
  'CONDSTORE and QRESYNC are advertised; ENABLE QRESYNC also enables CONDSTORE; SELECT reports ' + 'HIGHESTMODSEQ',
  async () => {
    const a = await session();
    const cap = await a.lines('CAPABILITY');
    expect(cap.untagged[0]).toMatch(/ CONDSTORE .*QRESYNC|QRESYNC .*CONDSTORE/);
    expect((await a.lines('ENABLE QRESYNC')).untagged).toEqual(['* ENABLED QRESYNC CONDSTORE']);
    const sel = await a.lines('SELECT INBOX');
    expect(num(sel.untagged, /HIGHESTMODSEQ (\d+)/)).toBeGreaterThan(0);
    const f = await a.lines('FETCH 1:2 (FLAGS)');
    expect(f.untagged.every((l) => / MODSEQ \(\d+\)/.test(l))).toBe(true);
    a.close();
  },
);

test('C3: reconnect with SELECT (QRESYNC ...) gets exactly the VANISHED and FETCH it needs', async () => {
  const a = await session();
  await a.lines('ENABLE QRESYNC');
  const sel = await a.lines('SELECT INBOX');
  const uidvalidity = num(sel.untagged, /UIDVALIDITY (\d+)/);
  const modseq = num(sel.untagged, /HIGHESTMODSEQ (\d+)/);
  const uids = (await a.lines('UID SEARCH ALL')).untagged[0].replace('* SEARCH ', '').split(' ').map(Number);
  expect(uids.length).toBeGreaterThanOrEqual(5);
  a.close();

  const [u1, u2, u3] = uids;
  const b = await session();
  await b.lines('SELECT INBOX');
  expect((await b.lines(`UID STORE ${u2} +FLAGS.SILENT (\\Flagged)`)).tagged).toMatch(/OK/);
  expect((await b.lines(`UID STORE ${u3} +FLAGS.SILENT (\\Deleted)`)).tagged).toMatch(/OK/);
  expect((await b.lines(`UID EXPUNGE ${u3}`)).tagged).toMatch(/OK/);
  const lit = 'Subject: new\r\n\r\nnew\r\n';
  b.send(`c99 APPEND INBOX {${lit.length}+}\r\n${lit}\r\n`);
  const appended = await b.until(/^c99 OK.*\r\n/m);
  const newUid = Number(/APPENDUID \d+ (\d+)/.exec(appended)![1]);
  b.close();

  const a2 = await session();
  await a2.lines('ENABLE QRESYNC');
  const re = await a2.lines(`SELECT INBOX (QRESYNC (${uidvalidity} ${modseq} ${uids[0]}:${uids[uids.length - 1]}))`);
  expect(re.tagged).toMatch(/OK/);
  const vanished = re.untagged.filter((l) => l.startsWith('* VANISHED'));
  expect(vanished).toEqual([`* VANISHED (EARLIER) ${u3}`]);
  const fetched = re.untagged
    .filter((l) => / FETCH /.test(l))
    .map((l) => Number(/UID (\d+)/.exec(l)![1]))
    .sort((x, y) => x - y);
  expect(fetched).toEqual([u2, newUid]);
  expect(re.untagged.find((l) => l.includes(`UID ${u2} `))).toMatch(/FLAGS \([^)]*\\Flagged[^)]*\) MODSEQ \(\d+\)/);

  // the same answer through UID FETCH (CHANGEDSINCE ... VANISHED)
  const f = await a2.lines(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`);
  expect(f.untagged.filter((l) => l.startsWith('* VANISHED'))).toEqual([`* VANISHED (EARLIER) ${u3}`]);
  expect(
    f.untagged
      .filter((l) => / FETCH /.test(l))
      .map((l) => Number(/UID (\d+)/.exec(l)![1]))
      .sort((x, y) => x - y),
  ).toEqual([u2, newUid]);
  // VANISHED without QRESYNC semantics is refused
  expect((await a2.lines(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`)).tagged).toMatch(/BAD/);

  // a wrong UIDVALIDITY: no VANISHED, no resync FETCH (the client must resync fully)
  const wrong = await a2.lines(`SELECT INBOX (QRESYNC (${uidvalidity + 1} ${modseq}))`);
  expect(wrong.untagged[0]).toBe('* OK [CLOSED] Previous mailbox closed.');
  expect(wrong.untagged.filter((l) => l.startsWith('* VANISHED') || / FETCH /.test(l))).toEqual([]);
  a2.close();
  void u1;
});

test(
  'STORE UNCHANGEDSINCE: a message changed since gets [MODIFIED]; expunges reach a QRESYNC ' + 'session as VANISHED',
  async () => {
    const a = await session();
    await a.lines('ENABLE QRESYNC');
    await a.lines('SELECT INBOX');
    const f = await a.lines('UID FETCH 1:* (MODSEQ)');
    const [first, second] = f.untagged.map((l) => ({
      uid: Number(/UID (\d+)/.exec(l)![1]),
      modseq: Number(/MODSEQ \((\d+)\)/.exec(l)![1]),
    }));
    const ok = await a.lines(`UID STORE ${first.uid} (UNCHANGEDSINCE ${first.modseq}) +FLAGS (\\Answered)`);
    expect(ok.tagged).toMatch(/^c\d+ OK/);
    expect(ok.tagged).not.toMatch(/MODIFIED/);
    expect(ok.untagged[0]).toMatch(/FLAGS \([^)]*\\Answered[^)]*\) MODSEQ \((\d+)\)/);
    const stale = await a.lines(`UID STORE ${first.uid} (UNCHANGEDSINCE ${first.modseq}) +FLAGS (\\Seen)`);
    expect(stale.tagged).toMatch(new RegExp(`OK \\[MODIFIED ${first.uid}\\]`));
    const st = await a.lines('STATUS INBOX (HIGHESTMODSEQ MESSAGES)');
    expect(st.untagged[0]).toMatch(/HIGHESTMODSEQ \d+ MESSAGES \d+/);
    const s = await a.lines(`SEARCH MODSEQ ${first.modseq + 1}`);
    expect(s.untagged[0]).toMatch(/^\* SEARCH \d+( \d+)* \(MODSEQ \d+\)$/);

    const b = await session();
    await b.lines('SELECT INBOX');
    await b.lines(`UID STORE ${second.uid} +FLAGS.SILENT (\\Deleted)`);
    await b.lines(`UID EXPUNGE ${second.uid}`);
    b.close();
    const n = await a.lines('NOOP');
    expect(n.untagged).toContain(`* VANISHED ${second.uid}`);
    expect(n.untagged.filter((l) => / EXPUNGE$/.test(l))).toEqual([]);
    a.close();
  },
);
