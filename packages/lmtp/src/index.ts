/**
 * LMTP delivery (RFC 2033) with `smtp-server` in LMTP mode. After DATA there is one reply per
 * accepted recipient, and `250` is sent only once that recipient's mail object and index entry
 * are durable. Unknown user: 550 5.1.1 at RCPT. Too big: 552 5.3.4. Store failure: 451 4.3.0.
 * Store full: 452 4.3.1; user over quota: 452 4.2.2 (temporary, per recipient).
 */
import { allowExplicitEnhancedCodes } from './enhanced.js';
import type { Server } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { type MailStore, QuotaExceeded, NotFound } from '@rmb/librmb';

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

/** Normalise line endings to CRLF (bare LF becomes CRLF; lone CR is kept). */
export function toCrlf(b: Buffer): Buffer {
  if (!b.includes(0x0a)) return b;
  const out: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) {
    if (i === 0 || b[i - 1] !== 0x0d) { out.push(b.subarray(start, i), Buffer.from('\r\n')); start = i + 1; }
  }
  out.push(b.subarray(start));
  return Buffer.concat(out);
}

/** Deliver one message to one user's INBOX; resolves once durable. */
export async function deliver(store: MailStore, username: string, envelopeFrom: string, rcpt: string, body: Buffer): Promise<{ uid: number }> {
  const trace = Buffer.from(`Return-Path: <${envelopeFrom}>\r\nDelivered-To: ${rcpt}\r\n`);
  const user = await store.user(username, true);
  const { saved: [saved] } = await user.appendTo('INBOX', [{ data: Buffer.concat([trace, body]) }]);
  return { uid: saved.uid };
}

/** Create the LMTP server (call `.listen(port, host)`). */
export function createLmtpServer(o: LmtpOptions): SMTPServer & Server {
  allowExplicitEnhancedCodes();
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
    async onRcptTo(address, session: SMTPServerSession & { users?: Map<string, string> }, cb) {
      try {
        const user = await o.lookupUser(address.address);
        if (!user) return cb(smtpError(550, `<${address.address}> User unknown in local recipient table`));
        (session.users ??= new Map()).set(address.address, user);
        cb();
      } catch (e) {
        o.log.warn({ err: e }, 'recipient lookup failed');
        cb(smtpError(451, 'Temporary failure looking up the recipient'));
      }
    },
    onData(stream, session: SMTPServerSession & { users?: Map<string, string> }, cb) {
      void (async () => {
        const body = await collect(stream, o.maxMessageBytes);
        if (!body) return cb(null, 'too big'); // the server answers 552 5.3.4 itself (rejectOversized)
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const data = toCrlf(body);
        const replies = await Promise.all(session.envelope.rcptTo.map(async (r) => {
          const user = session.users?.get(r.address);
          if (!user) return smtpError(550, `<${r.address}> User unknown`);
          try {
            const res = await deliver(o.store, user, from, r.address, data);
            o.log.info({ rcpt: r.address, user, uid: res.uid, bytes: data.length }, 'delivered');
            return `<${r.address}> Saved as UID ${res.uid}`;
          } catch (e) {
            o.log.warn({ err: e, rcpt: r.address }, 'delivery failed');
            if (e instanceof QuotaExceeded) {
              return e.storeFull
                ? smtpError(452, `4.3.1 <${r.address}> Mail system full, try again later`)
                : smtpError(452, `4.2.2 <${r.address}> Mailbox full`);
            }
            if (e instanceof NotFound) return smtpError(550, `<${r.address}> User unknown`);
            return smtpError(451, `<${r.address}> Temporary storage failure, try again later`);
          }
        }));
        cb(null, replies as unknown as string);
      })().catch((e) => { o.log.error({ err: e }, 'LMTP DATA failed'); cb(smtpError(451, 'Temporary failure')); });
    },
  });
  server.on('error', (e) => o.log.warn({ err: e }, 'LMTP server error'));
  return server as SMTPServer & Server;
}
