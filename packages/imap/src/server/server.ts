/**
 * The IMAP listener: plain (with STARTTLS) or implicit TLS (RFC 8314), one Session per connection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
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
    const secureContext = env.tlsContext;
    if (!secureContext) throw new Error('implicit TLS needs a TLS context');
    // every handshake gets the one certificate, whether or not the client sends SNI (clients
    // connecting by IP address send none); as STARTTLS does, the TLS layer wraps the TCP socket
    return createServer((raw) => {
      const s = new TLSSocket(raw, { isServer: true, secureContext });
      s.on('error', (e) => { env.log.debug({ err: e }, 'TLS handshake failed'); raw.destroy(); });
      onSocket(s, true);
    });
  }
  return createServer((s) => onSocket(s, false));
}
