/**
 * Issue 10, points 2 and 3: IMAP behaviours an independent conformance suite, a Dovecot comparison
 * and hostile input found wrong, each reduced to a named test (in-process server, memory store).
 */
import { inProcessServer, RawClient, type InProcessServer } from './harness.js';

let srv: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer();
});
afterAll(async () => {
  await srv.close();
});

let users = 0;
/** A logged-in session of a fresh user. */
async function fresh(tag = 'p'): Promise<RawClient> {
  const c = await RawClient.greeted(srv.port, tag);
  expect(await c.command(`LOGIN proto${++users} pw`)).toMatch(/OK/);
  return c;
}

/** APPEND `m` to `box` with a non-synchronizing literal; returns the responses. */
const append = (c: RawClient, box: string, m: string): Promise<string> => c.command(`APPEND ${box}`, m);

test('bare LF in APPEND is stored and served as CRLF: BODY[], RFC822.SIZE and BODYSTRUCTURE lines agree', async () => {
  const c = await fresh();
  const lf = 'From: a@example.org\nSubject: lf only\n\nline one\nline two\n';
  expect(await append(c, 'INBOX', lf)).toMatch(/OK/);
  await c.command('SELECT INBOX');
  const crlf = lf.replace(/\n/g, '\r\n');
  const got = await c.command('FETCH 1 (RFC822.SIZE BODY.PEEK[] BODYSTRUCTURE)');
  expect(got).toContain(`RFC822.SIZE ${crlf.length}`);
  expect(got).toContain(`BODY[] {${crlf.length}}\r\n${crlf}`);
  expect(got).toMatch(/"7BIT" 20 2/); // body: 20 octets in 2 lines, CRLF counted
  // CATENATE text parts too (RFC 4469)
  const text = 'Subject: cat\n\nhello\n';
  expect(await c.command(`APPEND INBOX CATENATE (TEXT {${text.length}+}\r\n${text})`)).toMatch(/OK/);
  expect(await c.command('FETCH 2 (BODY.PEEK[])')).toContain('Subject: cat\r\n\r\nhello\r\n');
  c.close();
});

test(
  'MULTIAPPEND with a 1.5 MB message (above imap.streamLiteralBytes, far below APPENDLIMIT) saves ' +
    'every message, all at once',
  async () => {
    const c = await fresh();
    const big = `Subject: big\r\n\r\n${'z'.repeat(1_500_000)}\r\n`;
    const small = 'Subject: small\r\n\r\nhi\r\n';
    const r = await c.command(
      `APPEND INBOX {${small.length}+}\r\n${small} (\\Seen) {${big.length}+}\r\n${big} {${small.length}+}\r\n${small}`,
    );
    expect(r).toMatch(/OK \[APPENDUID \d+ 1:3\]/);
    await c.command('SELECT INBOX');
    expect(await c.command('FETCH 2 (RFC822.SIZE FLAGS)')).toContain(`RFC822.SIZE ${big.length} FLAGS (\\Seen`);
    c.close();
  },
);

test(
  'SEARCH CHARSET: any charset iconv-lite decodes is accepted; an unknown one gets [BADCHARSET ' + '(list)]',
  async () => {
    const c = await fresh();
    await append(c, 'INBOX', 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nbody\r\n');
    await append(c, 'INBOX', 'Subject: other\r\n\r\nbody\r\n');
    await c.command('SELECT INBOX');
    const latin1 = Buffer.from('Grüße', 'latin1');
    expect(await c.command('SEARCH CHARSET ISO-8859-1 SUBJECT', latin1)).toMatch(/\* SEARCH 1\r/);
    const koi = Buffer.from([0xf0, 0xd2, 0xc9]); // "При" in KOI8-R: no match, but accepted
    expect(await c.command('SEARCH CHARSET KOI8-R SUBJECT', koi)).toMatch(/\* SEARCH\r\n.*OK/s);
    expect(await c.command('SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT x')).toMatch(
      /NO \[BADCHARSET \(UTF-8 US-ASCII [^)]*ISO-8859-1[^)]*\)\]/,
    );
    c.close();
  },
);

test(
  'ENVELOPE: an address without a domain is MISSING_DOMAIN (NIL marks groups); a source route is ' + 'the adl',
  async () => {
    const c = await fresh();
    await append(
      c,
      'INBOX',
      'From: Joe <joe>\r\nTo: <@relay.example,@r2.example:ann@example.org>\r\nCc: team: ' +
        'a@example.org;\r\nSubject: x\r\n\r\nb\r\n',
    );
    await c.command('SELECT INBOX');
    const env = await c.command('FETCH 1 (ENVELOPE)');
    expect(env).toContain('(("Joe" NIL "joe" "MISSING_DOMAIN"))');
    expect(env).toContain('((NIL "@relay.example,@r2.example" "ann" "example.org"))');
    expect(env).toContain('((NIL NIL "team" NIL)(NIL NIL "a" "example.org")(NIL NIL NIL NIL))');
    c.close();
  },
);

test(
  'address lists and the parts of a multipart have no space between their elements (RFC 3501 §9 ' + 'grammar)',
  async () => {
    const c = await fresh();
    await append(
      c,
      'INBOX',
      'To: a@example.org, b@example.org\r\nContent-Type: multipart/mixed; ' +
        'boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n',
    );
    await c.command('SELECT INBOX');
    const r = await c.command('FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)');
    expect(r).toContain('((NIL NIL "a" "example.org")(NIL NIL "b" "example.org"))');
    expect(r).toMatch(/BODYSTRUCTURE \(\("TEXT" [^)]*\)[^(]*\)\("TEXT"/);
    expect(r).toMatch(/BODY \(\("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" 3 0\)\("TEXT"/);
    c.close();
  },
);

test('address SEARCH ignores comments and folding white space inside the address', async () => {
  const c = await fresh();
  await append(c, 'INBOX', 'From: <user (comment)@ (comment) domain.org>\r\nSubject: x\r\n\r\nb\r\n');
  await c.command('SELECT INBOX');
  expect(await c.command('SEARCH FROM user@domain.org')).toMatch(/\* SEARCH 1\r/);
  expect(await c.command('SEARCH FROM nobody@domain.org')).toMatch(/\* SEARCH\r/);
  c.close();
});

test('LSUB with a wildcard: an unsubscribed parent of a subscribed mailbox is listed \\Noselect', async () => {
  const c = await fresh();
  await c.command('CREATE a/b/c');
  await c.command('SUBSCRIBE a/b/c');
  expect(await c.command('LSUB "" a/%')).toMatch(/\* LSUB \(\\Noselect\) "\/" "?a\/b"?\r/);
  expect(await c.command('LSUB "" %')).toMatch(/\* LSUB \(\\Noselect\) "\/" "?a"?\r/);
  const all = await c.command('LSUB "" *');
  expect(all).toMatch(/\* LSUB \(\) "\/" "?a\/b\/c"?\r/);
  expect(all).not.toMatch(/"?a\/b"?\r/); // * reaches a/b/c itself: no placeholder
  c.close();
});

test(
  'LIST (SUBSCRIBED RECURSIVEMATCH): CHILDINFO on every listed mailbox with a subscribed ' +
    'descendant; a parent only when the pattern hides that descendant',
  async () => {
    const c = await fresh();
    for (const b of ['INBOX', 'Drafts', 'Sent', 'Trash', 'Junk', 'Archive']) await c.command(`UNSUBSCRIBE ${b}`);
    for (const cmd of ['CREATE a/b/c', 'CREATE x/y', 'SUBSCRIBE a/b/c', 'SUBSCRIBE x', 'SUBSCRIBE x/y'])
      await c.command(cmd);
    const lines = (r: string) =>
      r
        .split('\r\n')
        .filter((l) => l.startsWith('* LIST'))
        .map((l) => l.replace(/ \([^()]*\) "\/" /, ' '))
        .sort();
    // (as Dovecot answers, RFC 9051 §6.3.9's table: exists, meets the selection, has a child that does -> CHILDINFO)
    expect(lines(await c.command('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"'))).toEqual([
      '* LIST "a/b/c"',
      '* LIST "x" ("CHILDINFO" ("SUBSCRIBED"))',
      '* LIST "x/y"',
    ]);
    expect(lines(await c.command('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'))).toEqual([
      '* LIST "a" ("CHILDINFO" ("SUBSCRIBED"))',
      '* LIST "x" ("CHILDINFO" ("SUBSCRIBED"))',
    ]);
    expect(lines(await c.command('LIST (SUBSCRIBED RECURSIVEMATCH) "" "a/%"'))).toEqual([
      '* LIST "a/b" ("CHILDINFO" ("SUBSCRIBED"))',
    ]);
    expect(await c.command('LIST (SUBSCRIBED) "" "%"')).not.toMatch(/CHILDINFO/); // only with RECURSIVEMATCH
    c.close();
  },
);

test('THREAD=REFERENCES with a reference loop: a link that would make a loop is not made (RFC 5256 §2.2)', async () => {
  const c = await fresh();
  await append(c, 'INBOX', 'Message-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: A\r\n\r\nA\r\n');
  await append(
    c,
    'INBOX',
    'Message-ID: <b@x>\r\nReferences: <a@x> <c@x>\r\nDate: Mon, 1 Jan 2024 10:01:00 +0000\r\nSubject: B\r\n\r\nB\r\n',
  );
  await append(
    c,
    'INBOX',
    'Message-ID: <c@x>\r\nReferences: <b@x>\r\nDate: Mon, 1 Jan 2024 10:02:00 +0000\r\nSubject: C\r\n\r\nC\r\n',
  );
  await c.command('SELECT INBOX');
  expect(await c.command('THREAD REFERENCES UTF-8 ALL')).toMatch(/\* THREAD \(1\)\(3 2\)\r/);
  c.close();
});

test('CATENATE to a missing mailbox answers [TRYCREATE] before any URL is evaluated', async () => {
  const c = await fresh();
  expect(await c.command('APPEND Nowhere CATENATE (URL "/INBOX/;UID=999")')).toMatch(/NO \[TRYCREATE\]/);
  c.close();
});

test('CATENATE URLs naming another user, host or port are refused with [BADURL]', async () => {
  const c = await fresh();
  const me = `proto${users}`;
  await append(c, 'INBOX', 'Subject: mine\r\n\r\nsecret\r\n');
  const port = srv.port;
  for (const url of [
    `imap://bob@evil.example.com:9999/INBOX/;UID=1`,
    `imap://bob@127.0.0.1:${port}/INBOX/;UID=1`,
    `imap://${me}@evil.example.com/INBOX/;UID=1`,
    `imap://${me}@127.0.0.1:1/INBOX/;UID=1`,
  ]) {
    expect({ url, r: await c.command(`APPEND INBOX CATENATE (URL "${url}")`) }).toEqual({
      url,
      r: expect.stringMatching(/NO \[BADURL /),
    });
  }
  expect(await c.command(`APPEND INBOX CATENATE (URL "imap://${me}@127.0.0.1:${port}/INBOX/;UID=1")`)).toMatch(
    /OK \[APPENDUID/,
  );
  expect(await c.command('APPEND INBOX CATENATE (URL "/INBOX/;UID=1")')).toMatch(/OK \[APPENDUID/);
  c.close();
});

test(
  'invalid modified UTF-7 in a mailbox name: SELECT answers NO, LIST answers OK with nothing, ' + 'CREATE NO [CANNOT]',
  async () => {
    const c = await fresh();
    expect(await c.command('SELECT "&Jjo"')).toMatch(/^p\d+ NO \[NONEXISTENT\]/m);
    const list = await c.command('LIST "" "&Jjo*"');
    expect(list).toMatch(/^p\d+ OK/m);
    expect(list).not.toMatch(/\* LIST/);
    expect(await c.command('CREATE "&AGE-&AGE"')).toMatch(/^p\d+ NO \[CANNOT\]/m);
    expect(await c.command('NOOP')).toMatch(/OK/); // still connected
    c.close();
  },
);

test(
  'deep SEARCH: nesting beyond the limit is a clear BAD; long NOT/OR chains never leak internal ' + 'errors',
  async () => {
    const c = await fresh();
    await append(c, 'INBOX', 'Subject: x\r\n\r\nb\r\n');
    await c.command('SELECT INBOX');
    const deep = await c.command(`SEARCH ${'('.repeat(20_000)}ALL${')'.repeat(20_000)}`);
    expect(deep).toMatch(/^p\d+ BAD Too deeply nested parentheses\r/m);
    const nots = await c.command(`SEARCH ${'NOT '.repeat(15_000)}ALL`);
    expect(nots).toMatch(/^p\d+ BAD Search keys nested too deeply\r/m);
    const ors = await c.command(`SEARCH ${'OR ALL '.repeat(9_000)}ALL`);
    expect(ors).toMatch(/^p\d+ BAD Search keys nested too deeply\r/m);
    for (const r of [deep, nots, ors]) expect(r).not.toMatch(/stack|SERVERBUG/i);
    // within the limit it works
    expect(await c.command(`SEARCH ${'NOT '.repeat(100)}ALL`)).toMatch(/\* SEARCH 1\r/);
    c.close();
  },
);
