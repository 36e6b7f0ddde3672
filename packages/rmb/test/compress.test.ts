/**
 * Issue 4, C4 (first part): COMPRESS=DEFLATE (RFC 4978). A raw client switches to raw deflate
 * after the uncompressed tagged OK and keeps talking (a literal APPEND and a FETCH through the
 * compressed stream); a second COMPRESS is refused with [COMPRESSIONACTIVE]; imapflow with its
 * compression on (it sends COMPRESS when advertised) appends and fetches byte-identical mail.
 */
import { connect, type Socket } from 'node:net';
import { createDeflateRaw, createInflateRaw, constants } from 'node:zlib';
import { ImapFlow } from 'imapflow';
import { inProcessServer, type InProcessServer } from './harness.js';

let srv: InProcessServer;
beforeAll(async () => {
  srv = await inProcessServer();
});
afterAll(async () => {
  await srv.close();
});

/** Text received on `sock`, through `inflate` once compression is on. */
class Wire {
  text = '';
  private waiters: (() => void)[] = [];
  feed = (d: Buffer) => {
    this.text += d.toString('latin1');
    for (const w of this.waiters.splice(0)) w();
  };
  async until(re: RegExp, ms = 10000): Promise<string> {
    const end = Date.now() + ms;
    while (!re.test(this.text)) {
      if (Date.now() > end) throw new Error(`timeout waiting for ${re}: ${this.text.slice(-300)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const out = this.text;
    this.text = '';
    return out;
  }
}

test(
  'COMPRESS DEFLATE: tagged OK uncompressed, then commands and literals both ways compressed; a ' +
    'second COMPRESS is refused',
  async () => {
    const sock: Socket = await new Promise((res, rej) => {
      const s = connect(srv.port, '127.0.0.1', () => res(s));
      s.once('error', rej);
    });
    const wire = new Wire();
    sock.on('data', wire.feed);
    await wire.until(/^\* OK/m);
    sock.write('a LOGIN z pw\r\nb CAPABILITY\r\n');
    expect(await wire.until(/^b OK/m)).toMatch(/COMPRESS=DEFLATE/);
    sock.write('c COMPRESS DEFLATE\r\n');
    await wire.until(/^c OK/m);
    sock.removeAllListeners('data');
    const inflate = createInflateRaw();
    const deflate = createDeflateRaw();
    sock.on('data', (d: Buffer) => inflate.write(d));
    inflate.on('data', wire.feed);
    deflate.on('data', (d: Buffer) => sock.write(d));
    const send = (s: string) => {
      deflate.write(s);
      deflate.flush(constants.Z_SYNC_FLUSH);
    };
    const mail = `Subject: compressed\r\n\r\n${'hello compressed world\r\n'.repeat(200)}`;
    send(`d APPEND INBOX {${mail.length}+}\r\n${mail}\r\ne SELECT INBOX\r\nf FETCH 1 (BODY.PEEK[])\r\n`);
    const got = await wire.until(/^f OK/m);
    expect(got).toMatch(/^d OK \[APPENDUID/m);
    expect(got).toContain(`BODY[] {${mail.length}}\r\n${mail})`);
    send('g COMPRESS DEFLATE\r\n');
    expect(await wire.until(/^g (OK|NO|BAD).*$/m)).toMatch(/^g NO \[COMPRESSIONACTIVE\]/m);
    send('h LOGOUT\r\n');
    await wire.until(/^h OK/m);
    sock.destroy();
  },
);

test('imapflow with compression: APPEND and FETCH round-trip through COMPRESS=DEFLATE', async () => {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: srv.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: 'flow', pass: 'x' },
    logger: false,
  });
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
