/**
 * The IMAP listener: plain (with STARTTLS) or implicit TLS (RFC 8314), one Session per connection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Session, type SessionEnv } from './session.js';

/** An IMAP listener that can be stopped gracefully. */
export interface ImapServer extends Server {
  /**
   * Stop accepting connections, let every session finish the command in flight and send `* BYE`
   * (Session.shutdown), waiting at most `graceMs` before the remaining connections are cut.
   * Resolves once every session is closed.
   */
  shutdown(graceMs: number): Promise<void>;
  /** Sessions open now, by state ('not-authenticated', 'authenticated', 'selected', ...). */
  sessionStates(): Record<string, number>;
  /** Every open session: id, user (once logged in), peer address, state, start (ms since epoch). */
  sessionList(): { id: string; user?: string; remote: string; state: string; since: number }[];
  /** End every session of `user` (case-insensitive) with `* BYE text`; returns how many. */
  kickUser(user: string, text: string): number;
}

/** Start an IMAP server; `implicitTls` wraps every connection in TLS from the first byte. */
export function createImapServer(env: SessionEnv, implicitTls = false): ImapServer {
  const sessions = new Set<Session>();
  const perAddress = new Map<string, number>();
  const onSocket = (socket: Socket, tls: boolean, tcp: Socket) => {
    tcp.setNoDelay(true);
    const addr = socket.remoteAddress ?? '';
    const fromAddr = perAddress.get(addr) ?? 0;
    if (sessions.size >= env.limits.maxConnections || fromAddr >= env.limits.maxConnectionsPerAddress) {
      // RFC 9051 §7.1.5 / RFC 5530: refused before the greeting, with a reason
      env.log.warn({ addr, total: sessions.size, fromAddr }, 'IMAP connection refused: too many connections');
      socket.on('error', () => undefined);
      socket.end('* BYE [UNAVAILABLE] Too many connections, try again later\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    perAddress.set(addr, fromAddr + 1);
    const s = new Session(socket, env, tls, randomUUID().slice(0, 8), tcp);
    sessions.add(s);
    socket.once('close', () => {
      sessions.delete(s);
      const n = (perAddress.get(addr) ?? 1) - 1;
      if (n > 0) perAddress.set(addr, n);
      else perAddress.delete(addr);
    });
  };
  // a session ends when its user's route changes away from how it is served (issue 13): local
  // sessions when the user is frozen or routed to a source, proxied ones when the user is no
  // longer `source`; checked on every notify and every routeCheckMs
  let checking = false;
  const checkRoutes = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const open = [...sessions].filter((s) => s.username && !s.isClosed);
      if (!open.length) return;
      const routes = await env.store.routes.getMany([...new Set(open.map((s) => s.username!))]);
      for (const s of open) {
        const r = routes.get(s.username!)!;
        if (s.proxied ? r.state === 'source' : r.state === 'local') continue;
        env.log.info({ session: s.id, user: s.username, route: r.state }, 'session ended: the route changed');
        s.kick(
          r.state === 'frozen'
            ? 'Your mailbox is being moved. Log in again in a few minutes.'
            : 'Your mailbox moved. Log in again.',
        );
      }
    } catch (e) {
      env.log.warn({ err: e }, 'route check failed');
    } finally {
      checking = false;
    }
  };
  const stopWatching = env.store.routes.onChange(() => void checkRoutes());
  const poll = setInterval(() => void checkRoutes(), env.limits.routeCheckMs);
  poll.unref();
  let server: Server;
  if (implicitTls) {
    if (!env.tlsContext) throw new Error('implicit TLS needs a TLS context');
    // every handshake gets the one certificate, whether or not the client sends SNI (clients
    // connecting by IP address send none); as STARTTLS does, the TLS layer wraps the TCP socket.
    // The context is read per connection: a reload (SIGHUP) replaces it for new connections.
    server = createServer((raw) => {
      const s = new TLSSocket(raw, { isServer: true, secureContext: env.tlsContext });
      s.on('error', (e) => {
        env.log.debug({ err: e }, 'TLS handshake failed');
        raw.destroy();
      });
      onSocket(s, true, raw);
    });
  } else server = createServer((s) => onSocket(s, false, s));
  return Object.assign(server, {
    async shutdown(graceMs: number): Promise<void> {
      server.close();
      clearInterval(poll);
      stopWatching();
      const all = Promise.all([...sessions].map((s) => s.shutdown()));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), graceMs);
      });
      if ((await Promise.race([all, late])) === 'late') {
        env.log.warn({ sessions: sessions.size }, 'shutdown grace period over: closing the remaining IMAP sessions');
        for (const s of sessions) s.socket.destroy();
      }
      clearTimeout(timer);
    },
    sessionList() {
      return [...sessions].map((s) => ({
        id: s.id,
        user: s.username,
        remote: s.remoteAddress,
        state: s.state,
        since: s.startedAt,
      }));
    },
    kickUser(user: string, text: string): number {
      let n = 0;
      for (const s of sessions)
        if (s.username?.toLowerCase() === user.toLowerCase() && !s.isClosed) {
          env.log.info({ session: s.id, user: s.username }, 'session ended by an administrator');
          s.kick(text);
          n++;
        }
      return n;
    },
    sessionStates(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const s of sessions) out[s.state] = (out[s.state] ?? 0) + 1;
      return out;
    },
  });
}
