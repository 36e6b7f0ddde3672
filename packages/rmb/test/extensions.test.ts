/**
 * Issue 4: small extensions, each advertised only with its test: STATUS=SIZE (RFC 8438),
 * APPENDLIMIT (RFC 7889: advertised value, STATUS item, [TOOBIG] beyond it before any literal
 * byte is sent), UNAUTHENTICATE (RFC 8437: back to the not-authenticated state, log in again).
 */
import { inProcessServer, RawClient, type InProcessServer } from './harness.js';

const LIMIT = 100_000;
let srv: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer({ maxLiteralBytes: LIMIT });
});
afterAll(async () => {
  await srv.close();
});

const raw = () => RawClient.greeted(srv.port, 'e');

test(
  'STATUS=SIZE and APPENDLIMIT: advertised, STATUS SIZE is the mailbox octets, APPENDLIMIT the ' +
    'limit; a bigger APPEND gets [TOOBIG] before +',
  async () => {
    const c = await raw();
    expect(await c.command('CAPABILITY')).not.toMatch(/UNAUTHENTICATE/);
    await c.command('LOGIN ext pw');
    const cap = await c.command('CAPABILITY');
    expect(cap).toMatch(/ STATUS=SIZE[ \r]/);
    expect(cap).toMatch(new RegExp(` APPENDLIMIT=${LIMIT}[ \\r]`));
    expect(cap).toMatch(/ UNAUTHENTICATE[ \r]/);
    const mails = ['Subject: a\r\n\r\none\r\n', 'Subject: b\r\n\r\ntwo two\r\n'];
    for (const m of mails) {
      c.send(`x APPEND INBOX {${m.length}+}\r\n${m}\r\n`);
      await c.until(/^x OK/m);
    }
    const st = await c.command('STATUS INBOX (MESSAGES SIZE APPENDLIMIT)');
    expect(st).toContain(`(MESSAGES 2 SIZE ${mails[0].length + mails[1].length} APPENDLIMIT ${LIMIT})`);
    c.send(`big APPEND INBOX {${LIMIT + 1}}\r\n`);
    expect(await c.until(/^big .*\r\n/m)).toMatch(/^big NO \[TOOBIG\]/m);
    c.close();
  },
);

test(
  'UNAUTHENTICATE: back to not-authenticated (mailbox closed, commands refused), then LOGIN works ' + 'again',
  async () => {
    const c = await raw();
    await c.command('LOGIN ext2 pw');
    expect(await c.command('SELECT INBOX')).toMatch(/OK \[READ-WRITE\]/);
    expect(await c.command('UNAUTHENTICATE')).toMatch(/OK/);
    expect(await c.command('NOOP')).toMatch(/OK/);
    expect(await c.command('FETCH 1 (FLAGS)')).toMatch(/BAD/);
    expect(await c.command('SELECT INBOX')).toMatch(/BAD/);
    expect(await c.command('CAPABILITY')).toMatch(/AUTH=PLAIN/);
    expect(await c.command('LOGIN ext2 pw')).toMatch(/OK/);
    expect(await c.command('SELECT INBOX')).toMatch(/OK/);
    c.close();
  },
);

test(
  'OBJECTID: MAILBOXID from CREATE, STATUS and SELECT agree and survive RENAME; EMAILID is kept ' +
    'by MOVE; THREADID is NIL',
  async () => {
    const c = await raw();
    await c.command('LOGIN ext3 pw');
    expect(await c.command('CAPABILITY')).toMatch(/ OBJECTID[ \r]/);
    const created = /MAILBOXID \(([\w-]+)\)/.exec(await c.command('CREATE Projects'))![1];
    expect(await c.command('STATUS Projects (MAILBOXID)')).toContain(`(MAILBOXID (${created}))`);
    expect(await c.command('RENAME Projects Work')).toMatch(/OK/);
    expect(await c.command('STATUS Work (MAILBOXID)')).toContain(`(MAILBOXID (${created}))`);
    expect(await c.command('SELECT Work')).toContain(`[MAILBOXID (${created})]`);
    const m = 'Subject: id\r\n\r\nbody\r\n';
    c.send(`x APPEND INBOX {${m.length}+}\r\n${m}\r\n`);
    await c.until(/^x OK/m);
    await c.command('SELECT INBOX');
    const before = /EMAILID \((M[\w-]+)\)/.exec(await c.command('FETCH 1 (EMAILID THREADID)'));
    expect(before).not.toBeNull();
    expect(await c.command('FETCH 1 (THREADID)')).toMatch(/THREADID NIL/);
    expect(await c.command('MOVE 1 Work')).toMatch(/OK/);
    await c.command('SELECT Work');
    expect(await c.command('FETCH 1 (EMAILID)')).toContain(`EMAILID (${before![1]})`);
    c.close();
  },
);

test(
  'SAVEDATE: FETCH SAVEDATE is when the mail was saved, not its INTERNALDATE; ' + 'SAVEDSINCE/SAVEDBEFORE search by it',
  async () => {
    const c = await raw();
    await c.command('LOGIN ext4 pw');
    expect(await c.command('CAPABILITY')).toMatch(/ SAVEDATE[ \r]/);
    const m = 'Subject: old\r\n\r\nold mail\r\n';
    c.send(`x APPEND INBOX "01-Jan-2001 10:00:00 +0000" {${m.length}+}\r\n${m}\r\n`);
    await c.until(/^x OK/m);
    await c.command('SELECT INBOX');
    const f = await c.command('FETCH 1 (INTERNALDATE SAVEDATE)');
    expect(f).toMatch(/INTERNALDATE "01-Jan-2001 10:00:00 \+0000"/);
    expect(f).toMatch(new RegExp(`SAVEDATE "\\d\\d-\\w{3}-${new Date().getUTCFullYear()} `));
    const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const d = new Date(Date.now() - 86400_000);
    const yesterday = `${d.getUTCDate()}-${MON[d.getUTCMonth()]}-${d.getUTCFullYear()}`;
    expect(await c.command(`SEARCH SAVEDSINCE ${yesterday}`)).toMatch(/^\* SEARCH 1\r$/m);
    expect(await c.command(`SEARCH SINCE ${yesterday}`)).toMatch(/^\* SEARCH\r$/m);
    expect(await c.command(`SEARCH SAVEDBEFORE ${yesterday}`)).toMatch(/^\* SEARCH\r$/m);
    expect(await c.command('SEARCH SAVEDATESUPPORTED')).toMatch(/^\* SEARCH 1\r$/m);
    c.close();
  },
);

test('AUTH=LOGIN: base64 Username:/Password: prompts, with and without an initial response; * aborts', async () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const c = await raw();
  expect(await c.command('CAPABILITY')).toMatch(/ AUTH=LOGIN[ \r]/);
  c.send('a1 AUTHENTICATE LOGIN\r\n');
  expect(await c.until(/^\+ .*\r\n/m)).toContain(`+ ${b64('Username:')}`);
  c.send('*\r\n');
  expect(await c.until(/^a1 .*\r\n/m)).toMatch(/^a1 BAD/m);
  c.send('a2 AUTHENTICATE LOGIN\r\n');
  await c.until(/^\+ /m);
  c.send(`${b64('ext5')}\r\n`);
  expect(await c.until(/^\+ .*\r\n/m)).toContain(`+ ${b64('Password:')}`);
  c.send(`${b64('pw')}\r\n`);
  expect(await c.until(/^a2 .*\r\n/m)).toMatch(/^a2 OK/m);
  c.close();
  const d = await raw();
  d.send(`b1 AUTHENTICATE LOGIN ${b64('ext5')}\r\n`);
  expect(await d.until(/^\+ .*\r\n/m)).toContain(`+ ${b64('Password:')}`);
  d.send(`${b64('pw')}\r\n`);
  expect(await d.until(/^b1 .*\r\n/m)).toMatch(/^b1 OK/m);
  d.close();
});

test(
  'CREATE-SPECIAL-USE: CREATE name (USE (\\Sent)) shows in LIST; unknown or several attributes ' + 'give NO [USEATTR]',
  async () => {
    const c = await raw();
    await c.command('LOGIN ext6 pw');
    expect(await c.command('CAPABILITY')).toMatch(/ CREATE-SPECIAL-USE[ \r]/);
    expect(await c.command('CREATE "Sent Mail" (USE (\\Sent))')).toMatch(/OK/);
    expect(await c.command('LIST "" "Sent Mail"')).toMatch(/^\* LIST \([^)]*\\Sent[^)]*\) "\/" "Sent Mail"/m);
    expect(await c.command('CREATE Other (USE (\\Bogus))')).toMatch(/NO \[USEATTR\]/);
    expect(await c.command('CREATE Other2 (USE (\\Sent \\Trash))')).toMatch(/NO \[USEATTR\]/);
    expect(await c.command('LIST "" Other*')).not.toMatch(/\* LIST/);
    c.close();
  },
);

test('ESEARCH and SEARCHRES: RETURN (MIN MAX COUNT ALL), RETURN (), SAVE into $ used by FETCH and STORE', async () => {
  const c = await raw();
  await c.command('LOGIN ext7 pw');
  const cap = await c.command('CAPABILITY');
  expect(cap).toMatch(/ ESEARCH[ \r]/);
  expect(cap).toMatch(/ SEARCHRES[ \r]/);
  for (let i = 1; i <= 5; i++) {
    const m = `Subject: s${i}\r\n\r\nbody\r\n`;
    c.send(`x${i} APPEND INBOX ${i % 2 ? '(\\Flagged)' : '()'} {${m.length}+}\r\n${m}\r\n`);
    await c.until(new RegExp(`^x${i} OK`, 'm'));
  }
  await c.command('SELECT INBOX');
  expect(await c.command('SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED')).toMatch(
    /^\* ESEARCH \(TAG "e\d+"\) MIN 1 MAX 5 COUNT 3 ALL 1,3,5\r$/m,
  );
  expect(await c.command('UID SEARCH RETURN () UNFLAGGED')).toMatch(/^\* ESEARCH \(TAG "e\d+"\) UID ALL 2,4\r$/m);
  expect(await c.command('SEARCH RETURN (COUNT) DELETED')).toMatch(/^\* ESEARCH \(TAG "e\d+"\) COUNT 0\r$/m);
  const saved = await c.command('SEARCH RETURN (SAVE) UNFLAGGED');
  expect(saved).not.toMatch(/ESEARCH/);
  const f = await c.command('FETCH $ (FLAGS)');
  expect(f.match(/^\* \d+ FETCH/gm)).toHaveLength(2);
  expect(await c.command('STORE $ +FLAGS.SILENT (\\Seen)')).toMatch(/OK/);
  expect(await c.command('SEARCH RETURN (ALL) SEEN')).toMatch(/ALL 2,4\r$/m);
  // SAVE with MIN: MIN is still returned, and $ holds only that message (RFC 5182 §2.1)
  expect(await c.command('SEARCH RETURN (SAVE MIN) FLAGGED')).toMatch(/^\* ESEARCH \(TAG "e\d+"\) MIN 1\r$/m);
  expect(await c.command('UID FETCH $ (UID)')).toMatch(/^\* 1 FETCH \(UID 1\)/m);
  expect(await c.command('SEARCH RETURN (BOGUS) ALL')).toMatch(/BAD/);
  c.close();
});

// With WITHIN advertised imapflow turns every SINCE/BEFORE into YOUNGER/OLDER with a
// client-rounded interval: the e2e test searches from a midnight boundary, where both agree
test('WITHIN (RFC 5032): OLDER and YOUNGER compare INTERNALDATE with now, in seconds', async () => {
  const c = await raw();
  await c.command('LOGIN ext8 pw');
  expect(await c.command('CAPABILITY')).toMatch(/ WITHIN[ \r]/);
  const m = 'Subject: w\r\n\r\nw\r\n';
  c.send(`o APPEND INBOX "01-Jan-2001 10:00:00 +0000" {${m.length}+}\r\n${m}\r\n`);
  await c.until(/^o OK/m);
  c.send(`n APPEND INBOX {${m.length}+}\r\n${m}\r\n`);
  await c.until(/^n OK/m);
  await c.command('SELECT INBOX');
  expect(await c.command('SEARCH OLDER 86400')).toMatch(/^\* SEARCH 1\r$/m);
  expect(await c.command('SEARCH YOUNGER 86400')).toMatch(/^\* SEARCH 2\r$/m);
  expect(await c.command('SEARCH YOUNGER 0')).toMatch(/BAD/);
  c.close();
});

test(
  'a NUL byte is stored as is, sent as 0x80 in a BODY[] literal (RFC 3501 §9) and as NUL in ' + 'BINARY[] (literal8)',
  async () => {
    const c = await raw();
    await c.command('LOGIN extnul pw');
    const m = Buffer.from('Subject: nul\r\n\r\na\u0000b\r\n', 'latin1');
    c.send(Buffer.concat([Buffer.from(`a APPEND INBOX {${m.length}+}\r\n`), m, Buffer.from('\r\n')]));
    await c.until(/^a OK/m);
    await c.command('SELECT INBOX');
    const body = await c.command('FETCH 1 BODY.PEEK[TEXT]');
    expect(body).toContain(`BODY[TEXT] {5}\r\na\u0080b\r\n`);
    const bin = await c.command('FETCH 1 BINARY.PEEK[]');
    expect(bin).toContain(`~{${m.length}}\r\n${m.toString('latin1')}`);
    c.close();
  },
);

test(
  'MULTIAPPEND with messages above streamLiteralBytes: each streams into its own object, all are ' +
    'committed at once; in step with both literal forms',
  async () => {
    const small = await inProcessServer({ streamLiteralBytes: 1000, maxLiteralBytes: 100_000 });
    try {
      const c = await RawClient.greeted(small.port, 'e');
      expect(await c.command('LOGIN big pw')).toMatch(/OK/);
      const big = `Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n`;
      const two = 'Subject: two\r\n\r\nhi\r\n';
      // non-synchronizing: small, streamed, small
      c.send(
        `b APPEND INBOX {${two.length}+}\r\n${two} {${big.length}+}\r\n${big} (\\Seen) {${two.length}+}\r\n${two}\r\n`,
      );
      const b = await c.until(/^b (OK|NO|BAD).*\r\n/m);
      expect(b).toMatch(/^b OK \[APPENDUID \d+ 1:3\]/m);
      expect(b).not.toMatch(/BAD/);
      c.send('c STATUS INBOX (MESSAGES)\r\n');
      expect(await c.until(/^c OK.*\r\n/m)).toContain('(MESSAGES 3)');
      // synchronizing: "+" for each literal, two streamed messages in one command
      c.send(`d APPEND INBOX {${big.length}}\r\n`);
      await c.until(/^\+/m);
      c.send(`${big} {${big.length}}\r\n`);
      await c.until(/^\+/m);
      c.send(`${big}\r\n`);
      expect(await c.until(/^d (OK|NO|BAD).*\r\n/m)).toMatch(/^d OK \[APPENDUID \d+ 4:5\]/m);
      // all or none (RFC 3502): a later message above APPENDLIMIT refuses the whole command, nothing saved
      c.send(`x APPEND INBOX {${big.length}+}\r\n${big} {200000+}\r\n${'y'.repeat(200000)}\r\n`);
      expect(await c.until(/^x (OK|NO|BAD).*\r\n/m)).toMatch(/^x NO \[TOOBIG\]/m);
      c.send('y STATUS INBOX (MESSAGES)\r\n');
      expect(await c.until(/^y OK.*\r\n/m)).toContain('(MESSAGES 5)');
      expect(await c.command('SELECT INBOX')).toMatch(/OK/);
      expect(await c.command('FETCH 1:5 (RFC822.SIZE FLAGS)')).toMatch(
        new RegExp(`\\* 3 FETCH \\(RFC822.SIZE ${two.length} FLAGS \\(\\\\Seen \\\\Recent\\)\\)`),
      );
      await c.command('UNSELECT');
      // the streamed message alone is saved
      c.send(`e APPEND INBOX {${big.length}+}\r\n${big}\r\n`);
      expect(await c.until(/^e (OK|NO|BAD).*\r\n/m)).toMatch(/^e OK \[APPENDUID \d+ 6\]/m);
      c.send('f STATUS INBOX (MESSAGES)\r\n');
      expect(await c.until(/^f OK.*\r\n/m)).toContain('(MESSAGES 6)');
      // the UTF8 form (RFC 6855 §4) streamed: its list closes after the literal
      c.send('g ENABLE UTF8=ACCEPT\r\n');
      await c.until(/^g OK/m);
      const utf8 = `Subject: =?utf-8?q?gro=C3=9F?= Größe\r\n\r\n${'ü'.repeat(2000)}\r\n`;
      const bytes = Buffer.from(utf8);
      c.send(Buffer.concat([Buffer.from(`h APPEND INBOX UTF8 (~{${bytes.length}+}\r\n`), bytes, Buffer.from(')\r\n')]));
      expect(await c.until(/^h (OK|NO|BAD).*\r\n/m)).toMatch(/^h OK \[APPENDUID \d+ 7\]/m);
      c.send('i SELECT INBOX\r\n');
      await c.until(/^i OK/m);
      c.send('j FETCH 7 (RFC822.SIZE)\r\n');
      expect(await c.until(/^j OK.*\r\n/m)).toContain(`RFC822.SIZE ${bytes.length}`);
      c.close();
    } finally {
      await small.close();
    }
  },
);
