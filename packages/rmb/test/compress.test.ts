/**
 * Issue 4, C4 (first part): COMPRESS=DEFLATE (RFC 4978). A raw client switches to raw deflate
 * after the uncompressed tagged OK and keeps talking (a literal APPEND and a FETCH through the
 * compressed stream); a second COMPRESS is refused with [COMPRESSIONACTIVE]; imapflow with its
 * compression on (it sends COMPRESS when advertised) appends and fetches byte-identical mail.
 */
import { createDeflateRaw, createInflateRaw, constants } from 'node:zlib';
import { inProcessServer, RawClient, type InProcessServer, plainImapFlow } from './harness.js';

let srv: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer();
});
afterAll(async () => {
  await srv.close();
});

test(
  'COMPRESS DEFLATE: tagged OK uncompressed, then commands and literals both ways compressed; a ' +
    'second COMPRESS is refused',
  async () => {
    const c = await RawClient.greeted(srv.port);
    const sock = c.sock;
    sock.write('a LOGIN z pw\r\nb CAPABILITY\r\n');
    expect(await c.until(/^b OK/m)).toMatch(/COMPRESS=DEFLATE/);
    sock.write('c COMPRESS DEFLATE\r\n');
    await c.until(/^c OK/m);
    // from here both ways are raw deflate (RFC 4978): the client reads through inflate, writes through deflate
    sock.removeAllListeners('data');
    const inflate = createInflateRaw();
    const deflate = createDeflateRaw();
    sock.on('data', (d: Buffer) => inflate.write(d));
    c.listen(inflate);
    deflate.on('data', (d: Buffer) => sock.write(d));
    c.sendTo = (d: string | Buffer) => {
      deflate.write(d);
      deflate.flush(constants.Z_SYNC_FLUSH);
    };
    const send = (line: string) => c.send(line);
    const mail = `Subject: compressed\r\n\r\n${'hello compressed world\r\n'.repeat(200)}`;
    send(`d APPEND INBOX {${mail.length}+}\r\n${mail}\r\ne SELECT INBOX\r\nf FETCH 1 (BODY.PEEK[])\r\n`);
    const got = await c.until(/^f OK/m);
    expect(got).toMatch(/^d OK \[APPENDUID/m);
    expect(got).toContain(`BODY[] {${mail.length}}\r\n${mail})`);
    send('g COMPRESS DEFLATE\r\n');
    expect(await c.until(/^g (OK|NO|BAD).*$/m)).toMatch(/^g NO \[COMPRESSIONACTIVE\]/m);
    send('h LOGOUT\r\n');
    await c.until(/^h OK/m);
    sock.destroy();
  },
);

test('imapflow with compression: APPEND and FETCH round-trip through COMPRESS=DEFLATE', async () => {
  const c = plainImapFlow(srv.port, 'flow', 'x');
  await c.connect();
  expect((c as unknown as { _deflate?: unknown })._deflate).toBeDefined(); // imapflow did switch to DEFLATE
  const mails = Array.from({ length: 20 }, (_, i) =>
    Buffer.from(`Subject: flow ${i}\r\nX-Pad: ${'p'.repeat(i * 100)}\r\n\r\n${`line ${i}\r\n`.repeat(50 + i)}`),
  );
  for (const m of mails) await c.append('INBOX', m);
  const lock = await c.getMailboxLock('INBOX');
  const seen: Buffer[] = [];
  for await (const m of c.fetch('1:*', { source: true })) seen.push(m.source!);
  lock.release();
  await c.logout();
  expect(seen.length).toBe(mails.length);
  seen.forEach((s, i) => expect(s.equals(mails[i])).toBe(true));
});
