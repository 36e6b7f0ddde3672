/**
 * LMTP delivery (RFC 2033) with `smtp-server` in LMTP mode. After DATA there is one reply per
 * accepted recipient, and `250` is sent only once that recipient's mail object and index entry
 * are durable. Unknown user: 550 5.1.1 at RCPT. Too big: 552 5.3.4. Store failure: 451 4.3.0.
 * Store full: 452 4.3.1; user over quota: 452 4.2.2 (temporary, per recipient).
 */
import { allowExplicitEnhancedCodes } from './enhanced.js';
import { greetWithoutDelay } from './greeting.js';
import type { Server, Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { type Logger, type MailStore, QuotaExceeded, NotFound, toCrlf } from '@rmb/librmb';

/** The logger (librmb's Logger: pino-compatible). */
export type Log = Logger;

/** Options of the LMTP server. */
export interface LmtpOptions {
  store: MailStore;
  /** Map a recipient address to a username, or null when unknown. */
  lookupUser(address: string): Promise<string | null>;
  /** Largest message accepted, bytes (announced as SIZE; bigger ones get 552 5.3.4). */
  maxMessageBytes: number;
  /**
   * Concurrent connections. When full, a new connection closes an idle one (no transaction in
   * progress) to make room, so idle clients cannot starve delivery; only when every connection is
   * busy is the new one refused (421 4.3.2).
   */
  maxClients: number;
  /** Concurrent connections from one peer address (beyond: 421 4.7.0). */
  maxClientsPerAddress: number;
  /** Idle time before a connection is closed, ms. */
  idleTimeoutMs: number;
  /** Host name in the greeting. */
  serverName: string;
  log: Log;
  /**
   * Told of every recipient's reply after DATA (metrics): 'ok' (250), 'temporary' (4xx) or
   * 'permanent' (5xx), and seconds from the end of DATA to the reply.
   */
  observe?: (result: 'ok' | 'temporary' | 'permanent', seconds: number) => void;
}

/** What this module uses of smtp-server's connection objects. */
interface Conn {
  remoteAddress: string;
  session: SMTPServerSession;
  send(code: number, text: string): void;
  close(): void;
}

/** smtp-server's entry point for an accepted socket (SMTPServer.connect). */
interface Admitting {
  connect(socket: Socket, options?: unknown): void;
}

/**
 * Admission control in front of smtp-server's connect(): at most `maxClientsPerAddress` from one
 * address (421 4.7.0), at most `maxClients` in all; when full, the oldest idle connection (no
 * MAIL FROM yet) is closed with 421 4.4.2 to make room, and only when none is idle is the new
 * one refused (421 4.3.2, RFC 3463). Idle clients therefore never block delivery.
 */
function admit(server: Admitting, conns: Set<Conn>, o: LmtpOptions): void {
  const connect = server.connect.bind(server);
  server.connect = (socket, options) => {
    const addr = socket.remoteAddress ?? '';
    const refuse = (text: string) => {
      socket.on('error', () => undefined);
      socket.end(`${text}\r\n`);
    };
    let fromAddr = 0;
    for (const c of conns) if (c.remoteAddress === addr) fromAddr++;
    if (fromAddr >= o.maxClientsPerAddress) {
      o.log.warn({ addr, fromAddr }, 'LMTP connection refused: too many from this address');
      return refuse('421 4.7.0 Too many connections from your address, try again later');
    }
    if (conns.size >= o.maxClients) {
      const idle = [...conns].find((c) => !c.session?.envelope?.mailFrom);
      if (!idle) {
        o.log.warn({ addr, clients: conns.size }, 'LMTP connection refused: every connection is busy');
        return refuse('421 4.3.2 Too many connected clients, try again in a moment');
      }
      o.log.info({ evicted: idle.remoteAddress }, 'LMTP full: closing an idle connection to make room');
      idle.send(421, '4.4.2 Idle connection closed to make room, reconnect when needed');
      idle.close();
    }
    connect(socket, options);
  };
}

/** A transaction's envelope with the RCPTs this server accepted (repeats kept). */
type Envelope = SMTPServerSession['envelope'] & {
  accepted?: { address: string; user: string; relay?: string }[];
};

type SmtpError = Error & { responseCode?: number };
const smtpError = (code: number, text: string): SmtpError => Object.assign(new Error(text), { responseCode: code });

/** Read the whole DATA stream, bounded by `max` bytes (the rest is drained, not kept). */
async function collect(stream: SMTPServerDataStream, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let n = 0;
  let over = false;
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) over = true;
    if (!over) chunks.push(c);
  }
  return over || stream.sizeExceeded ? null : Buffer.concat(chunks);
}

/** Deliver one message to one user's INBOX; resolves once durable. */
export async function deliver(
  store: MailStore,
  username: string,
  envelopeFrom: string,
  rcpt: string,
  body: Buffer,
): Promise<{ uid: number }> {
  const trace = Buffer.from(`Return-Path: <${envelopeFrom}>\r\nDelivered-To: ${rcpt}\r\n`);
  const user = await store.user(username, true);
  const {
    saved: [saved],
  } = await user.appendTo('INBOX', [{ data: Buffer.concat([trace, body]) }]);
  return { uid: saved.uid };
}

/** The LMTP server, with a graceful stop. */
export type LmtpServer = SMTPServer &
  Server & {
    /**
     * Stop accepting connections, wait (at most `graceMs`) for every DATA in flight to be received,
     * delivered and answered, then close every connection with `421 4.3.2` (RFC 3463: system not
     * accepting messages; the MTA retries). Nothing acknowledged is lost. Resolves when closed.
     */
    shutdown(graceMs: number): Promise<void>;
  };

/** The address itself when the default route sends unknown users to an old server, else null. */
async function routedAway(o: LmtpOptions, address: string): Promise<string | null> {
  const r = await o.store.routes.get(address);
  return r.state !== 'local' ? address : null;
}

/**
 * Relay one recipient's mail to the old server (`lmtp://host:port` or `smtp://host:port`) and
 * answer with its reply: 250 only after its 250; its 4xx/5xx passed back with their text; no
 * answer at all is 451 4.4.1 (RFC 3463: no answer from host).
 */
async function relay(uri: string, from: string, to: string, body: Buffer, log: Log): Promise<string | Error> {
  const u = new URL(uri);
  const t = nodemailer.createTransport({
    host: u.hostname,
    port: Number(u.port) || (u.protocol === 'lmtp:' ? 24 : 25),
    lmtp: u.protocol === 'lmtp:',
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 10000,
    greetingTimeout: 10000,
    socketTimeout: 60000,
  } as never);
  try {
    const info = (await t.sendMail({ envelope: { from, to: [to] }, raw: body })) as { response?: string };
    log.info({ rcpt: to, relay: uri, response: info.response }, 'relayed to the old server');
    return `<${to}> relayed: ${(info.response ?? '').replace(/^250[ -]?/, '')}`.slice(0, 400);
  } catch (e) {
    const err = e as { responseCode?: number; response?: string; message: string };
    log.warn({ err: e, rcpt: to, relay: uri }, 'relay failed');
    if (err.responseCode && err.responseCode >= 400) {
      return smtpError(err.responseCode, (err.response ?? '').replace(/^\d{3}[ -]?/, '').slice(0, 400));
    }
    return smtpError(451, `4.4.1 <${to}> The old server did not answer, try again later`);
  } finally {
    t.close();
  }
}

/** Create the LMTP server (call `.listen(port, host)`). */
export function createLmtpServer(o: LmtpOptions): LmtpServer {
  allowExplicitEnhancedCodes();
  // DATA transactions from the DATA command to their last reply: a shutdown waits for them
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = new SMTPServer({
    lmtp: true,
    name: o.serverName,
    banner: 'rmb LMTP ready',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: o.maxMessageBytes,
    rejectOversized: true,
    // admission (maxClients, maxClientsPerAddress, eviction of idle connections) is done below
    maxClients: 0,
    socketTimeout: o.idleTimeoutMs,
    logger: false,
    // no DNS on the delivery path: MTAs connect from known hosts
    disableReverseLookup: true,
    // RFC 2034 enhanced status codes on every reply (5.1.1 unknown user, 4.3.0 store failure...)
    hideENHANCEDSTATUSCODES: false,
    async onRcptTo(address, session: SMTPServerSession, cb) {
      try {
        // a user rmb does not know may still live on the old server (the default route)
        const user = (await o.lookupUser(address.address)) ?? (await routedAway(o, address.address));
        if (!user) return cb(smtpError(550, `<${address.address}> User unknown in local recipient table`));
        const route = await o.store.routes.get(user);
        if (route.state === 'frozen') {
          return cb(smtpError(451, `4.2.0 <${address.address}> Mailbox being moved, try again later`));
        }
        // every accepted RCPT, repeats included, in order: each gets its own reply after DATA
        // (RFC 2033 §4.2); smtp-server keeps a repeated address once in envelope.rcptTo
        (session.envelope as Envelope).accepted ??= [];
        (session.envelope as Envelope).accepted!.push({
          address: address.address,
          user,
          relay: route.state === 'source' ? route.source?.delivery : undefined,
        });
        cb();
      } catch (e) {
        o.log.warn({ err: e }, 'recipient lookup failed');
        cb(smtpError(451, 'Temporary failure looking up the recipient'));
      }
    },
    onData(stream, session: SMTPServerSession, done) {
      inFlight++;
      const cb = (err: Error | null, message?: string) => {
        done(err, message);
        if (--inFlight === 0) drained?.();
      };
      void (async () => {
        const body = await collect(stream, o.maxMessageBytes);
        if (!body) return cb(null, 'too big'); // the server answers 552 5.3.4 itself (rejectOversized)
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const data = toCrlf(body);
        const accepted = (session.envelope as Envelope).accepted ?? [];
        // one delivery per distinct user (as Dovecot: a repeated or differently-cased address
        // gets the mail once), one reply per accepted RCPT, in RCPT order
        const deliveries = new Map<string, Promise<{ uid: number } | Error>>();
        for (const r of accepted) {
          if (!deliveries.has(r.user) && !r.relay)
            deliveries.set(
              r.user,
              deliver(o.store, r.user, from, r.address, data).catch((e: Error) => e),
            );
        }
        const t0 = process.hrtime.bigint();
        const told = (reply: string | SmtpError): string | SmtpError => {
          const code = typeof reply === 'string' ? 250 : (reply.responseCode ?? 451);
          o.observe?.(
            code < 400 ? 'ok' : code < 500 ? 'temporary' : 'permanent',
            Number(process.hrtime.bigint() - t0) / 1e9,
          );
          return reply;
        };
        const reply = async (r: (typeof accepted)[number]): Promise<string | SmtpError> => {
          // a user still on the old server: relayed, and the old server's answer passed back
          if (r.relay) return relay(r.relay, from, r.address, body, o.log);
          const res = await deliveries.get(r.user)!;
          if (!(res instanceof Error)) {
            o.log.info({ rcpt: r.address, user: r.user, uid: res.uid, bytes: data.length }, 'delivered');
            return `<${r.address}> Saved as UID ${res.uid}`;
          }
          o.log.warn({ err: res, rcpt: r.address }, 'delivery failed');
          if (res instanceof QuotaExceeded) {
            return res.storeFull
              ? smtpError(452, `4.3.1 <${r.address}> Mail system full, try again later`)
              : smtpError(452, `4.2.2 <${r.address}> Mailbox full`);
          }
          if (res instanceof NotFound) return smtpError(550, `<${r.address}> User unknown`);
          return smtpError(451, `<${r.address}> Temporary storage failure, try again later`);
        };
        const replies = await Promise.all(accepted.map(async (r) => told(await reply(r))));
        cb(null, replies as unknown as string);
      })().catch((e) => {
        o.log.error({ err: e }, 'LMTP DATA failed');
        cb(smtpError(451, 'Temporary failure'));
      });
    },
  });
  server.on('error', (e) => o.log.warn({ err: e }, 'LMTP server error'));
  const conns = (server as unknown as { connections: Set<Conn> }).connections;
  greetWithoutDelay(server);
  admit(server as unknown as Admitting, conns, o);
  return Object.assign(server as SMTPServer & Server, {
    async shutdown(graceMs: number): Promise<void> {
      const closed = new Promise<void>((r) => server.server.close(() => r()));
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((r) => {
            drained = r;
          }),
          new Promise<void>((r) => {
            timer = setTimeout(r, graceMs);
          }),
        ]);
        clearTimeout(timer);
        if (inFlight > 0)
          o.log.warn({ inFlight }, 'shutdown grace period over: closing LMTP connections with deliveries in flight');
      }
      // the last replies are written; give them to the socket before the 421
      await new Promise((r) => setImmediate(r));
      for (const c of conns) {
        c.send(421, '4.3.2 Server shutting down, try again later');
        c.close();
      }
      await closed;
    },
  });
}
