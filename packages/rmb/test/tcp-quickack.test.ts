/**
 * Issue 14: an APPEND from a client that writes the literal and its CRLF in two writes without
 * TCP_NODELAY (Python's imaplib) took ~50 ms, because the CRLF waited for a delayed ACK. rmb now
 * puts the connection in quick-ACK mode after every continuation request, as Dovecot does.
 * Checked here on the server's own socket (TCP_QUICKACK read back), on plain and implicit TLS;
 * the latency itself is measured by `npm run bench` (bench-large.mjs, one APPEND by imaplib).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { connect as connectStore } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import { createImapServer, inQuickAck, type ImapServer } from '@rmb/imap';
import { DEFAULTS } from '../src/config.js';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';

/** Read from `s` until `re` matches the text received so far. */
function until(s: { on: Socket['on']; off: Socket['off'] }, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString();
      if (re.test(got)) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${got}`)), 5000).unref();
  });
}

/** A throwaway certificate for the implicit-TLS listener. */
async function selfSignedContext() {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 } as never);
  return createSecureContext({ cert: pems.cert, key: pems.private });
}

async function server(
  tls: boolean,
): Promise<{ srv: ImapServer; port: number; accepted: Socket[]; stop(): Promise<void> }> {
  const cluster = await connectStore({ backend: 'memory' });
  const log = pino({ level: 'silent' });
  const store = await MailStore.open(cluster, { log });
  const srv = createImapServer(
    {
      store,
      authenticate: async (u) => u,
      plaintextAllowed: () => true,
      log,
      serverName: 'rmb',
      limits: { ...DEFAULTS.imap },
      tlsContext: tls ? await selfSignedContext() : undefined,
    },
    tls,
  );
  const accepted: Socket[] = [];
  srv.on('connection', (s: Socket) => accepted.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    srv,
    port: (srv.address() as AddressInfo).port,
    accepted,
    stop: async () => {
      await srv.shutdown(100);
      await cluster.close();
    },
  };
}

for (const tls of [false, true]) {
  test(`after a continuation the server acknowledges at once (${tls ? 'implicit TLS' : 'plain'})`, async () => {
    const s = await server(tls);
    const c = tls
      ? tlsConnect({ port: s.port, host: '127.0.0.1', rejectUnauthorized: false })
      : tcpConnect(s.port, '127.0.0.1');
    try {
      await until(c, /^\* OK/);
      const raw = s.accepted[0];
      // a command answered at once puts Linux in its delayed-ACK ("ping-pong") mode: the control
      c.write('a NOOP\r\n');
      await until(c, /a OK/);
      expect(inQuickAck(raw)).toBe(false);
      c.write('b LOGIN u p\r\n');
      await until(c, /b OK/);
      c.write('c APPEND INBOX {5}\r\n');
      await until(c, /^\+ /m);
      expect(inQuickAck(raw)).toBe(true);
      c.write('hello\r\n');
      await until(c, /c OK/);
      c.write('d SELECT INBOX\r\n');
      await until(c, /d OK/);
      expect(inQuickAck(raw)).toBe(false);
      c.write('e IDLE\r\n');
      await until(c, /^\+ idling/m);
      expect(inQuickAck(raw)).toBe(true);
      c.write('DONE\r\n');
      await until(c, /e OK/);
    } finally {
      c.destroy();
      await s.stop();
    }
  });
}
