/**
 * Issue 10, point 2: per-session state that must stay exact with several sessions on a mailbox:
 * keyword announcements (FLAGS), CONDSTORE turned on by its enabling commands, \Recent.
 */
import { inProcessServer, RawClient, type InProcessServer } from './harness.js';

let srv: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer();
});
afterAll(async () => {
  await srv.close();
});

async function session(user: string, tag: string): Promise<RawClient> {
  const c = await RawClient.greeted(srv.port, tag);
  expect(await c.command(`LOGIN ${user} pw`)).toMatch(/OK/);
  return c;
}

/** APPEND a small message; returns the responses (untagged updates of a selected mailbox included). */
async function append(c: RawClient, box: string, subject: string, flags = ''): Promise<string> {
  const m = `Subject: ${subject}\r\n\r\nbody of ${subject}\r\n`;
  const r = await c.command(`APPEND ${box} (${flags})`, m);
  expect(r).toMatch(/OK/);
  return r;
}

test(
  'a keyword another session created is announced by FLAGS and PERMANENTFLAGS before a FETCH ' + 'carries it',
  async () => {
    const a = await session('kw', 'a');
    const b = await session('kw', 'b');
    await append(a, 'INBOX', 'one');
    expect(await a.command('SELECT INBOX')).not.toMatch(/\$Label5/);
    await b.command('SELECT INBOX');
    expect(await b.command('STORE 1 +FLAGS ($Label5)')).toMatch(/\* FLAGS \([^)]*\$Label5/);
    const got = await a.command('NOOP');
    const flagsAt = got.search(/^\* FLAGS \([^)]*\$Label5[^)]*\)\r$/m);
    const permAt = got.search(/^\* OK \[PERMANENTFLAGS \([^)]*\$Label5[^)]*\\\*\)\]/m);
    const fetchAt = got.search(/^\* 1 FETCH \(.*FLAGS \(\$Label5/m);
    expect(flagsAt).toBeGreaterThanOrEqual(0);
    expect(permAt).toBeGreaterThan(flagsAt);
    expect(fetchAt).toBeGreaterThan(permAt);
    // a message delivered with a new keyword: announced before the EXISTS that brings it
    await append(b, 'INBOX', 'two', '$Work');
    const next = await a.command('NOOP');
    expect(next.search(/^\* FLAGS \([^)]*\$Work/m)).toBeGreaterThanOrEqual(0);
    expect(next.search(/^\* FLAGS \([^)]*\$Work/m)).toBeLessThan(next.search(/^\* 2 EXISTS/m));
    // known keywords are not announced again
    expect(await a.command('NOOP')).not.toMatch(/\* FLAGS/);
    a.close();
    b.close();
  },
);

test("another session's keyword that comes back with this session's STORE or FETCH is announced first", async () => {
  const a = await session('kw2', 'a');
  const b = await session('kw2', 'b');
  await append(a, 'INBOX', 'one');
  await append(a, 'INBOX', 'two');
  await a.command('SELECT INBOX');
  await b.command('SELECT INBOX');
  await b.command('STORE 1 +FLAGS.SILENT ($Fresh)');
  // a's STORE comes back with the index's current flags, $Fresh included
  const stored = await a.command('STORE 1 +FLAGS (\\Flagged)');
  const flagsAt = stored.search(/^\* FLAGS \([^)]*\$Fresh/m);
  expect(flagsAt).toBeGreaterThanOrEqual(0);
  expect(flagsAt).toBeLessThan(stored.search(/^\* 1 FETCH \(FLAGS \([^)]*\$Fresh/m));
  // and a FETCH that sets \Seen brings back another session's new keyword the same way
  await b.command('STORE 2 +FLAGS.SILENT ($Later)');
  const fetched = await a.command('FETCH 2 (BODY[TEXT])');
  const at = fetched.search(/^\* FLAGS \([^)]*\$Later/m);
  expect(at).toBeGreaterThanOrEqual(0);
  expect(at).toBeLessThan(fetched.search(/^\* 2 FETCH [\s\S]*\$Later/m));
  a.close();
  b.close();
});

test(
  'CONDSTORE enabling commands turn CONDSTORE on without ENABLE: HIGHESTMODSEQ in the OK, MODSEQ ' + 'in later FETCHes',
  async () => {
    const enablers = [
      'FETCH 1 (MODSEQ)',
      'SEARCH MODSEQ 1',
      'STORE 1 (UNCHANGEDSINCE 1000) +FLAGS (\\Flagged)',
      'STATUS INBOX (HIGHESTMODSEQ)',
      'FETCH 1 (FLAGS) (CHANGEDSINCE 1)',
    ];
    for (const [i, cmd] of enablers.entries()) {
      const c = await session(`cs${i}`, 'c');
      await append(c, 'INBOX', 'one');
      await c.command('SELECT INBOX');
      // not yet on: a STORE's untagged FETCH has no MODSEQ
      expect(await c.command('STORE 1 +FLAGS (\\Answered)')).not.toMatch(/MODSEQ/);
      const r = await c.command(cmd);
      expect({ cmd, ok: /^c\d+ OK \[HIGHESTMODSEQ \d+\]/m.test(r) }).toEqual({ cmd, ok: true });
      const after = await c.command('STORE 1 -FLAGS (\\Answered)');
      expect({ cmd, modseq: /\* 1 FETCH \(FLAGS \([^)]*\) MODSEQ \(\d+\)\)/.test(after) }).toEqual({
        cmd,
        modseq: true,
      });
      // only the first enabling command reports it
      expect(await c.command(cmd)).not.toMatch(/OK \[HIGHESTMODSEQ/);
      c.close();
    }
    // ESEARCH with a MODSEQ criterion returns MODSEQ
    const e = await session('cs-esearch', 'e');
    await append(e, 'INBOX', 'one');
    await e.command('SELECT INBOX');
    expect(await e.command('SEARCH RETURN (ALL) MODSEQ 1')).toMatch(/\* ESEARCH \(TAG "e\d+"\) ALL 1 MODSEQ \d+/);
    e.close();
  },
);

test(
  '\\Recent is exact: one session sees a new message as recent, EXAMINE claims nothing, STATUS ' +
    'RECENT counts what is left',
  async () => {
    const a = await session('recent', 'a');
    const b = await session('recent', 'b');
    await append(a, 'INBOX', 'one');
    await append(a, 'INBOX', 'two');
    expect(await a.command('STATUS INBOX (RECENT)')).toContain('(RECENT 2)');
    // EXAMINE shows them recent but claims nothing
    expect(await b.command('EXAMINE INBOX')).toMatch(/\* 2 RECENT/);
    expect(await b.command('STATUS INBOX (RECENT)')).toContain('(RECENT 2)');
    expect(await a.command('SELECT INBOX')).toMatch(/\* 2 RECENT/);
    expect(await a.command('FETCH 1:2 (FLAGS)')).toMatch(/\* 2 FETCH \(FLAGS \(\\Recent\)\)/);
    expect(await b.command('SELECT INBOX')).toMatch(/\* 0 RECENT/);
    expect(await b.command('STATUS INBOX (RECENT)')).toContain('(RECENT 0)');
    // a message APPENDed while both have INBOX selected: the first session told of it has it as recent, the other not
    const bSaw = (await append(b, 'INBOX', 'three')) + (await b.command('NOOP'));
    expect(bSaw).toMatch(/\* 3 EXISTS/);
    expect(bSaw).toMatch(/\* 1 RECENT/);
    expect(await b.command('SEARCH RECENT')).toMatch(/\* SEARCH 3\r/);
    expect(await a.command('NOOP')).toMatch(/\* 3 EXISTS/);
    expect(await a.command('SEARCH RECENT')).toMatch(/\* SEARCH 1 2\r/);
    expect(await a.command('FETCH 3 (FLAGS)')).toMatch(/\* 3 FETCH \(FLAGS \(\)\)/);
    // once a session was told of it, it is no longer recent for anyone else
    const c = await session('recent', 'c');
    expect(await c.command('STATUS INBOX (RECENT MESSAGES)')).toContain('(RECENT 0 MESSAGES 3)');
    expect(await c.command('EXAMINE INBOX')).toMatch(/\* 0 RECENT/);
    a.close();
    b.close();
    c.close();
  },
);
