/**
 * Issue 10, point 3: idle and trickling connections cannot hold the server or block delivery.
 * IMAP: a pre-authentication deadline a trickle cannot extend, a total and a per-address
 * connection limit. LMTP: a per-address limit, and when full an idle connection makes room for
 * a new one, so mail keeps flowing. In-process servers on a memory store.
 */
import { connect as tcp, type AddressInfo, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import pino from 'pino';
import { connect } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import { createLmtpServer, type LmtpServer } from '@rmb/lmtp';
import { rmSync } from 'node:fs';
import { inProcessServer, newDataDir, RawClient, startServer, type InProcessServer } from './harness.js';

/** Collects what a socket receives; `closed` once the peer closed it. */
function watch(s: Socket): { text: () => string; closed: Promise<void> } {
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString();
  });
  s.on('error', () => undefined);
  return { text: () => got, closed: new Promise((r) => s.once('close', () => r())) };
}
const open = (port: number): Promise<Socket> =>
  new Promise((r, j) => {
    const s = tcp(port, '127.0.0.1', () => r(s));
    s.once('error', j);
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('IMAP', () => {
  let srv: InProcessServer;
  beforeAll(async () => {
    srv = await inProcessServer({ preAuthTimeoutMs: 1500, maxConnections: 6, maxConnectionsPerAddress: 4 });
  });
  afterAll(async () => {
    await srv.close();
  });

  test('the pre-authentication timeout is a deadline: a byte every 300 ms does not extend it', async () => {
    const s = await open(srv.port);
    const w = watch(s);
    const t0 = Date.now();
    const trickle = setInterval(() => {
      if (!s.destroyed) s.write('x');
    }, 300);
    await w.closed;
    clearInterval(trickle);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(w.text()).toMatch(/\* BYE /);
  });

  test(
    'per-address and total connection limits: the connection beyond gets * BYE [UNAVAILABLE], the ' +
      'others keep working',
    async () => {
      const held = await Promise.all([1, 2, 3, 4].map(() => RawClient.greeted(srv.port)));
      const fifth = await open(srv.port);
      const w = watch(fifth);
      await w.closed;
      expect(w.text()).toMatch(/^\* BYE \[UNAVAILABLE\]/);
      expect(await held[0].command('LOGIN limits pw')).toMatch(/OK/);
      held[3].close();
      await sleep(200);
      const again = await RawClient.greeted(srv.port); // a slot is free again
      expect(await again.command('NOOP')).toMatch(/OK/);
      again.close();
      for (const c of held) c.close();
    },
  );
});

/** An LMTP server on a memory store with these connection limits; resolves with it and its port. */
async function lmtpServer(
  maxClients: number,
  maxClientsPerAddress: number,
): Promise<{ lmtp: LmtpServer; port: number; stop(): Promise<void> }> {
  const cluster = await connect({ backend: 'memory' });
  const log = pino({ level: 'silent' });
  const store = await MailStore.open(cluster, { log });
  const lmtp = createLmtpServer({
    store,
    lookupUser: async (a) => a.split('@')[0],
    maxMessageBytes: 1 << 20,
    maxClients,
    maxClientsPerAddress,
    idleTimeoutMs: 60_000,
    serverName: 'rmb',
    log,
  });
  await new Promise<void>((r) => lmtp.listen(0, '127.0.0.1', () => r()));
  return {
    lmtp,
    port: (lmtp.server.address() as AddressInfo).port,
    stop: async () => {
      await lmtp.shutdown(1000);
      await cluster.close();
    },
  };
}

test('the per-user mailbox cap (store.maxMailboxes): CREATE beyond it gets NO [LIMIT]', async () => {
  const dataDir = newDataDir({ capped: 'pw' });
  const srv = await startServer(dataDir, ['store.maxMailboxes=8']);
  try {
    const c = await RawClient.greeted(srv.imap);
    expect(await c.tagged('LOGIN capped pw')).toMatch(/OK/);
    expect(await c.tagged('CREATE one')).toMatch(/OK/);
    expect(await c.tagged('CREATE two')).toMatch(/OK/); // 6 defaults + 2
    expect(await c.tagged('CREATE three')).toMatch(/^r\d+ NO \[LIMIT\] Too many mailboxes \(at most 8\)/);
    expect(await c.tagged('DELETE two')).toMatch(/OK/);
    expect(await c.tagged('CREATE three')).toMatch(/OK/);
    c.close();
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 60000);

describe('LMTP', () => {
  let port: number;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ port, stop } = await lmtpServer(3, 10));
  });
  afterAll(async () => {
    await stop();
  });

  /** A new LMTP connection after its greeting and LHLO. */
  async function greeted(): Promise<{
    s: Socket;
    w: ReturnType<typeof watch>;
    reply: (line: string) => Promise<string>;
  }> {
    const s = await open(port);
    const w = watch(s);
    let seen = 0;
    const next = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(w.text().slice(seen)); i++) await sleep(50);
      const out = w.text().slice(seen);
      seen = w.text().length;
      return out;
    };
    await next(/^220 /m);
    const reply = async (line: string) => {
      s.write(`${line}\r\n`);
      return next(/^\d{3} .*\r\n/m);
    };
    await reply('LHLO client.example');
    return { s, w, reply };
  }

  test('idle connections cannot starve delivery: when full, an idle one is closed to make room', async () => {
    const idle = await Promise.all([1, 2, 3].map(() => greeted()));
    const fresh = await greeted(); // the server is full of idle connections: one of them goes
    expect(await fresh.reply('MAIL FROM:<x@example.org>')).toMatch(/^250 /m);
    expect(await fresh.reply('RCPT TO:<una@example.org>')).toMatch(/^250 /m);
    expect(await fresh.reply('DATA')).toMatch(/^354 /m);
    expect(await fresh.reply('Subject: through\r\n\r\nhi\r\n.')).toMatch(/^250 /m);
    await sleep(100);
    const evicted = idle.filter((c) => /421 4\.4\.2/.test(c.w.text()));
    expect(evicted.length).toBe(1);
    for (const c of [...idle, fresh]) c.s.destroy();
    await sleep(100);
  });

  test('when every connection is busy the new one is refused with 421 4.3.2 (the MTA retries)', async () => {
    const busy = await Promise.all(
      [1, 2, 3].map(async () => {
        const c = await greeted();
        await c.reply('MAIL FROM:<x@example.org>'); // a transaction in progress: not idle
        return c;
      }),
    );
    const s = await open(port);
    const w = watch(s);
    await w.closed;
    expect(w.text()).toMatch(/^421 4\.3\.2 /);
    for (const c of busy) c.s.destroy();
    await sleep(100);
  });

  test("the greeting does not wait for a timer (smtp-server's 100 ms early-talker wait is off)", async () => {
    // issue 14: every delivery connection paid smtp-server's wait before its 220. With JavaScript
    // timers frozen that wait never ends, so the greeting arrives only if nothing waits on a timer.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'hrtime', 'performance', 'Date'] });
    try {
      const s = await open(port);
      const w = watch(s);
      for (let i = 0; i < 50_000 && !/^220 /.test(w.text()); i++) await new Promise((r) => setImmediate(r));
      expect(w.text()).toMatch(/^220 /);
      s.destroy();
    } finally {
      jest.useRealTimers();
    }
  });

  test('per-address limit: one address cannot take every connection (421 4.7.0 beyond it)', async () => {
    const small = await lmtpServer(10, 2);
    const held = await Promise.all([1, 2].map(() => open(small.port)));
    const s = await open(small.port);
    const w = watch(s);
    await w.closed;
    expect(w.text()).toMatch(/^421 4\.7\.0 /);
    for (const h of held) h.destroy();
    await small.stop();
  });
});
