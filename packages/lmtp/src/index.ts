/**
 * LMTP delivery (RFC 2033) with `smtp-server` in LMTP mode. After DATA there is one reply per
 * accepted recipient, and `250` is sent only once that recipient's mail object and index entry
 * are durable. Unknown user: 550 5.1.1 at RCPT. Too big: 552 5.3.4. Store failure: 451 4.3.0.
 * Store full: 452 4.3.1; user over quota: 452 4.2.2 (temporary, per recipient).
 */
import { allowExplicitEnhancedCodes } from './enhanced.js';
import type { Server } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { type MailStore, QuotaExceeded, NotFound, toCrlf } from '@rmb/librmb';

/** Logger shape (pino-compatible). */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of the LMTP server. */
export interface LmtpOptions {
  store: MailStore;
  /** Map a recipient address to a username, or null when unknown. */
  lookupUser(address: string): Promise<string | null>;
  /** Largest message accepted, bytes (announced as SIZE; bigger ones get 552 5.3.4). */
  maxMessageBytes: number;
  /** Concurrent connections accepted. */
  maxClients: number;
  /** Host name in the greeting. */
  serverName: string;
  log: Log;
}

/** A transaction's envelope with the RCPTs this server accepted (repeats kept). */
type Envelope = SMTPServerSession['envelope'] & { accepted?: { address: string; user: string }[] };

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
export async function deliver(store: MailStore, username: string, envelopeFrom: string, rcpt: string, body: Buffer): Promise<{ uid: number }> {
  const trace = Buffer.from(`Return-Path: <${envelopeFrom}>\r\nDelivered-To: ${rcpt}\r\n`);
  const user = await store.user(username, true);
  const { saved: [saved] } = await user.appendTo('INBOX', [{ data: Buffer.concat([trace, body]) }]);
  return { uid: saved.uid };
}

/** The LMTP server, with a graceful stop. */
export type LmtpServer = SMTPServer & Server & {
  /**
   * Stop accepting connections, wait (at most `graceMs`) for every DATA in flight to be received,
   * delivered and answered, then close every connection with `421 4.3.2` (RFC 3463: system not
   * accepting messages; the MTA retries). Nothing acknowledged is lost. Resolves when closed.
   */
  shutdown(graceMs: number): Promise<void>;
};

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
    maxClients: o.maxClients,
    logger: false,
    // no DNS on the delivery path: MTAs connect from known hosts
    disableReverseLookup: true,
    // RFC 2034 enhanced status codes on every reply (5.1.1 unknown user, 4.3.0 store failure...)
    hideENHANCEDSTATUSCODES: false,
    async onRcptTo(address, session: SMTPServerSession, cb) {
      try {
        const user = await o.lookupUser(address.address);
        if (!user) return cb(smtpError(550, `<${address.address}> User unknown in local recipient table`));
        // every accepted RCPT, repeats included, in order: each gets its own reply after DATA
        // (RFC 2033 §4.2); smtp-server keeps a repeated address once in envelope.rcptTo
        (session.envelope as Envelope).accepted ??= [];
        (session.envelope as Envelope).accepted!.push({ address: address.address, user });
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
          if (!deliveries.has(r.user)) deliveries.set(r.user, deliver(o.store, r.user, from, r.address, data).catch((e: Error) => e));
        }
        const replies = await Promise.all(accepted.map(async (r) => {
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
        }));
        cb(null, replies as unknown as string);
      })().catch((e) => { o.log.error({ err: e }, 'LMTP DATA failed'); cb(smtpError(451, 'Temporary failure')); });
    },
  });
  server.on('error', (e) => o.log.warn({ err: e }, 'LMTP server error'));
  const conns = (server as unknown as { connections: Set<{ send(code: number, text: string): void; close(): void }> }).connections;
  return Object.assign(server as SMTPServer & Server, {
    async shutdown(graceMs: number): Promise<void> {
      const closed = new Promise<void>((r) => server.server.close(() => r()));
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => { drained = r; }), new Promise<void>((r) => { timer = setTimeout(r, graceMs); })]);
        clearTimeout(timer);
        if (inFlight > 0) o.log.warn({ inFlight }, 'shutdown grace period over: closing LMTP connections with deliveries in flight');
      }
      // the last replies are written; give them to the socket before the 421
      await new Promise((r) => setImmediate(r));
      for (const c of conns) { c.send(421, '4.3.2 Server shutting down, try again later'); c.close(); }
      await closed;
    },
  });
}
