/**
 * The IMAP listener: plain (with STARTTLS) or implicit TLS (RFC 8314), one Session per connection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContext } from 'node:tls';
import { Session, type SessionEnv } from './session.js';

/** Start an IMAP server; `implicitTls` wraps every connection in TLS from the first byte. */
export function createImapServer(env: SessionEnv, implicitTls = false): Server {
  const sessions = new Set<Session>();
  const onSocket = (socket: Socket, tls: boolean) => {
    socket.setNoDelay(true);
    const s = new Session(socket, env, tls, randomUUID().slice(0, 8));
    sessions.add(s);
    socket.on('close', () => sessions.delete(s));
  };
  if (implicitTls) {
    if (!env.tlsContext) throw new Error('implicit TLS needs a TLS context');
    return createTlsServer({ SNICallback: (_n, cb) => cb(null, env.tlsContext as SecureContext) }, (s) => onSocket(s, true));
  }
  return createServer((s) => onSocket(s, false));
}
