/**
 * Issue 4 (real clients): a scripted NeoMutt session (Debian neomutt, run in a pseudo-terminal by
 * `script`) against `rmb serve`, watched by a recording proxy. A client's usual start-up:
 * AUTHENTICATE, CAPABILITY, ENABLE (QRESYNC), LIST, SELECT (CONDSTORE), a FETCH of headers, IDLE
 * (ended by a delivery), and on the next start, with its header cache, the QRESYNC resync
 * (UID FETCH ... (CHANGEDSINCE n VANISHED)). Every command must get OK; none BAD or NO.
 * NeoMutt polls other mailboxes with STATUS; it does not use LIST-STATUS (that is covered by
 * imaptest/scripts/list-status).
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { clientPart, newDataDir, startServer, type ServerChild, plainImapFlow, lmtpTransport } from './harness.js';
import { outsideSuite } from '@rmb/rados/testing';

const NEOMUTT = '/usr/bin/neomutt';
outsideSuite('NeoMutt, a real client', clientPart(NEOMUTT, 'neomutt'), () => {
  let dataDir: string;
  let srv: ServerChild;
  let proxy: Server;
  let transcript = '';

  beforeAll(async () => {
    dataDir = newDataDir({ nina: 'nina-pw' });
    srv = await startServer(dataDir);
    // a proxy that records what the client sends and the server's tagged replies
    proxy = createServer((c) => {
      const s = connect(srv.imap, '127.0.0.1');
      c.on('data', (d: Buffer) => {
        transcript += d
          .toString('latin1')
          .split(/(?<=\n)/)
          .map((l) => `C: ${l}`)
          .join('');
        s.write(d);
      });
      s.on('data', (d: Buffer) => {
        transcript += d
          .toString('latin1')
          .split('\r\n')
          .filter((l) => /^[a-z]\d+ /.test(l))
          .map((l) => `S: ${l}\r\n`)
          .join('');
        c.write(d);
      });
      c.on('close', () => s.destroy());
      s.on('close', () => c.destroy());
      c.on('error', () => undefined);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  }, 90000);
  afterAll(async () => {
    proxy?.close();
    await srv?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * Run NeoMutt for `seconds` in a pseudo-terminal (it is a full-screen program), then kill it.
   * Asynchronous: the recording proxy lives in this process and must keep serving meanwhile.
   */
  async function neomutt(seconds: number): Promise<void> {
    const rc = join(dataDir, 'neomuttrc');
    writeFileSync(
      rc,
      `set folder="imap://nina@127.0.0.1:${(proxy.address() as AddressInfo).port}/"
  set imap_pass="nina-pw"
  set spoolfile="+INBOX"
  set ssl_starttls=no
  set ssl_force_tls=no
  set imap_qresync=yes
  set imap_condstore=yes
  set imap_idle=yes
  set header_cache="${join(dataDir, 'hcache')}"
  set timeout=1
  set mail_check=1
  mailboxes +INBOX +Sent
  `,
    );
    // script forwards its stdin to the terminal: a pipe that stays open (and silent) keeps it running
    const p = spawn(
      'sh',
      ['-c', `sleep ${seconds + 2} | timeout -s KILL ${seconds} script -qfc '${NEOMUTT} -n -F ${rc}' /dev/null`],
      { stdio: 'ignore', env: { ...process.env, TERM: 'xterm', HOME: dataDir } },
    );
    await new Promise((r) => p.on('exit', r));
  }

  test(
    'NeoMutt starts up like a client does: ENABLE QRESYNC, SELECT (CONDSTORE) then (QRESYNC ...), ' +
      'header FETCH, IDLE; no BAD or NO',
    async () => {
      const t = lmtpTransport(srv.lmtp, { pool: true });
      for (let i = 1; i <= 3; i++)
        await t.sendMail({
          envelope: { from: 'x@example.org', to: ['nina@example.org'] },
          raw:
            `Subject: hello ${i}\r\nFrom: X <x@example.org>\r\nMessage-ID: ` +
            `<nm${i}@example.org>\r\n\r\nbody ${i}\r\n`,
        });
      // a delivery while NeoMutt idles: the EXISTS it gets ends its IDLE (DONE) and it fetches the new headers
      const run = neomutt(12);
      await new Promise((r) => setTimeout(r, 6000));
      await t.sendMail({
        envelope: { from: 'x@example.org', to: ['nina@example.org'] },
        raw: 'Subject: hello during idle\r\nFrom: X <x@example.org>\r\n\r\nbody\r\n',
      });
      await run;
      const first = transcript;
      // changes while NeoMutt is away: one flagged, one new
      const c = plainImapFlow(srv.imap, 'nina', 'nina-pw');
      await c.connect();
      const lock = await c.getMailboxLock('INBOX');
      await c.messageFlagsAdd('1', ['\\Flagged']);
      lock.release();
      await c.logout();
      await t.sendMail({
        envelope: { from: 'x@example.org', to: ['nina@example.org'] },
        raw: 'Subject: hello 4\r\nFrom: X <x@example.org>\r\n\r\nbody 4\r\n',
      });
      t.close();
      transcript = '';
      await neomutt(7);
      const second = transcript;

      expect(first).toMatch(/^C: a\d+ CAPABILITY\r$/m);
      expect(first).toMatch(/^C: a\d+ ENABLE .*QRESYNC/m);
      expect(first).toMatch(/^C: a\d+ LIST /m);
      expect(first).toMatch(/^C: a\d+ SELECT "INBOX" \(CONDSTORE\)/m);
      expect(first).toMatch(/^C: a\d+ (UID )?FETCH .*BODY\.PEEK\[HEADER/m);
      expect(first).toMatch(/^C: a\d+ IDLE\r$/m);
      expect(first).toMatch(/^C: DONE\r$/m);
      expect(first).toMatch(/^C: a\d+ (UID )?FETCH 4(:\d+)? .*BODY\.PEEK\[HEADER/m);
      // with its header cache NeoMutt resynchronises the QRESYNC way of RFC 7162 §3.2.6: UID FETCH
      // with CHANGEDSINCE and VANISHED after the SELECT (it does not use SELECT's QRESYNC parameter)
      expect(second).toMatch(/^C: a\d+ SELECT "INBOX" \(CONDSTORE\)/m);
      expect(second).toMatch(/^C: a\d+ UID FETCH 1:\d+ \(FLAGS\) \(CHANGEDSINCE \d+ VANISHED\)/m);
      for (const run of [first, second]) {
        expect(run.match(/^S: a\d+ (NO|BAD) .*$/gm) ?? []).toEqual([]);
        expect((run.match(/^S: a\d+ OK/gm) ?? []).length).toBeGreaterThan(5);
      }
    },
    90000,
  );
});
