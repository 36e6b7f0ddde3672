/**
 * The upstream leg of an IMAP proxy session (issue 13): while a user's route is `source`, rmb logs
 * in at the old server with the user's credentials (or as a master user) and then pipes bytes both
 * ways, as Dovecot's proxy does (doc.dovecot.org, "Proxying"). This file opens and authenticates
 * the upstream connection; Session.startProxy does the piping.
 *
 * Upstream URIs: `imap://host[:port]` (plain; `?starttls` upgrades it with STARTTLS, RFC 3501
 * §6.2.1) and `imaps://host[:port]` (implicit TLS, RFC 8314); `insecure` in the query accepts any
 * certificate (a test server's self-signed one).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** Where and how to log in at the old server. */
export interface ProxyTarget {
  /** The old server's IMAP URI (see the file comment). */
  uri: string;
  /** The user's login name there. */
  user: string;
  /** The user's password; unused when `master` is given. */
  password?: string;
  /** A master user: SASL PLAIN with the user as authorization identity (RFC 4616 §2). */
  master?: { user: string; password: string };
}

/** Why the upstream login did not happen. `auth`: the old server refused the credentials. */
export class ProxyFailed extends Error {
  constructor(
    readonly kind: 'auth' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'ProxyFailed';
  }
}

/** An authenticated upstream connection. */
export interface Upstream {
  socket: Socket;
  /** The old server's capabilities after login (what the client is told). */
  capabilities: string[];
  host: string;
}

/** Parse an upstream URI. Throws ProxyFailed('unavailable') on a URI that is not one. */
export function parseUpstreamUri(uri: string): {
  tls: boolean;
  starttls: boolean;
  insecure: boolean;
  host: string;
  port: number;
} {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new ProxyFailed('unavailable', `bad upstream URI ${uri}`);
  }
  if (u.protocol !== 'imap:' && u.protocol !== 'imaps:')
    throw new ProxyFailed('unavailable', `bad upstream URI ${uri}`);
  const tls = u.protocol === 'imaps:';
  return {
    tls,
    starttls: !tls && u.searchParams.has('starttls'),
    insecure: u.searchParams.has('insecure'),
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : tls ? 993 : 143,
  };
}

/** Reads CRLF lines from a socket until told to stop; literals do not occur in what it reads. */
class LineReader {
  private buf = Buffer.alloc(0);
  private waiting?: { resolve: (l: string) => void; reject: (e: Error) => void };
  private failed?: Error;
  private readonly onData = (d: Buffer) => {
    this.buf = Buffer.concat([this.buf, d]);
    this.pump();
  };
  private readonly onEnd = () => this.fail(new ProxyFailed('unavailable', 'the old server closed the connection'));
  private readonly onError = (e: Error) => this.fail(new ProxyFailed('unavailable', e.message));

  constructor(readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
  }

  private fail(e: Error): void {
    this.failed = e;
    this.waiting?.reject(e);
    this.waiting = undefined;
  }

  private pump(): void {
    if (!this.waiting) return;
    const i = this.buf.indexOf('\r\n');
    if (i < 0) {
      if (this.buf.length > 65536) this.fail(new ProxyFailed('unavailable', 'over-long line from the old server'));
      return;
    }
    const line = this.buf.subarray(0, i).toString('utf8');
    this.buf = this.buf.subarray(i + 2);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(line);
  }

  line(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.pump();
    });
  }

  /** Stop reading; returns bytes read past the last line (none in practice). */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    return this.buf;
  }
}

/** Wait for the tagged answer of `tag`, collecting untagged lines; returns [status line, untagged]. */
async function tagged(r: LineReader, tag: string, onContinue?: () => void): Promise<[string, string[]]> {
  const untagged: string[] = [];
  for (;;) {
    const line = await r.line();
    if (line.startsWith(`${tag} `)) return [line.slice(tag.length + 1), untagged];
    if (line.startsWith('+') && onContinue) onContinue();
    else untagged.push(line);
  }
}

/** The capabilities of untagged `* CAPABILITY` lines. */
const capsOfUntagged = (lines: string[]): string[] =>
  lines.flatMap((l) => (/^\* CAPABILITY /i.test(l) ? l.slice(13).split(' ').filter(Boolean) : []));

const capsIn = (text: string): string[] | null => {
  const m = /\[CAPABILITY ([^\]]*)\]/i.exec(text);
  return m ? m[1].split(' ').filter(Boolean) : null;
};

/**
 * Connect to the old server and log in as `t` says: greeting, STARTTLS when asked, then
 * AUTHENTICATE PLAIN (RFC 4616; the only way for a master user) when the server offers it, else
 * LOGIN with quoted strings; then its capabilities. Resolves with the connection ready to pipe.
 * Throws ProxyFailed: `auth` when the server answered the login with NO, `unavailable` when it
 * cannot be reached (within `timeoutMs`), speaks no IMAP, or refuses TLS.
 */
export async function openUpstream(t: ProxyTarget, timeoutMs: number): Promise<Upstream> {
  const u = parseUpstreamUri(t.uri);
  const connected = await new Promise<Socket>((resolve, reject) => {
    const s: Socket = u.tls
      ? tlsConnect({ host: u.host, port: u.port, servername: u.host, rejectUnauthorized: !u.insecure })
      : netConnect({ host: u.host, port: u.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ProxyFailed('unavailable', `no answer from ${u.host}:${u.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once(u.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new ProxyFailed('unavailable', `${u.host}:${u.port}: ${e.message}`));
    });
  });
  let socket: Socket = connected;
  const timer = setTimeout(() => socket.destroy(new Error(`login at ${u.host} took over ${timeoutMs} ms`)), timeoutMs);
  try {
    let r = new LineReader(socket);
    const greeting = await r.line();
    if (!/^\* OK\b/i.test(greeting)) throw new ProxyFailed('unavailable', `greeting: ${greeting.slice(0, 200)}`);
    let caps = capsIn(greeting);
    const send = (line: string) => socket.write(`${line}\r\n`);
    if (u.starttls) {
      send('P1 STARTTLS');
      const [st] = await tagged(r, 'P1');
      if (!/^OK\b/i.test(st)) throw new ProxyFailed('unavailable', `STARTTLS refused: ${st.slice(0, 200)}`);
      r.detach();
      socket = await new Promise<TLSSocket>((resolve, reject) => {
        const s = tlsConnect({ socket, servername: u.host, rejectUnauthorized: !u.insecure }, () => resolve(s));
        s.once('error', (e) => reject(new ProxyFailed('unavailable', `TLS with ${u.host}: ${e.message}`)));
      });
      r = new LineReader(socket);
      caps = null;
    }
    if (!caps) {
      send('P2 CAPABILITY');
      caps = capsOfUntagged((await tagged(r, 'P2'))[1]);
    }
    const plain = caps.some((c) => c.toUpperCase() === 'AUTH=PLAIN');
    let answer: string;
    if (plain || t.master) {
      const blob = t.master ? `${t.user}\0${t.master.user}\0${t.master.password}` : `\0${t.user}\0${t.password ?? ''}`;
      send('P3 AUTHENTICATE PLAIN');
      [answer] = await tagged(r, 'P3', () => send(Buffer.from(blob, 'utf8').toString('base64')));
    } else {
      const q = (s: string) => {
        if (/[\r\n\0]/.test(s)) throw new ProxyFailed('auth', 'credentials the old server cannot take by LOGIN');
        return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
      };
      send(`P3 LOGIN ${q(t.user)} ${q(t.password ?? '')}`);
      [answer] = await tagged(r, 'P3');
    }
    if (!/^OK\b/i.test(answer)) {
      const kind = /^NO\b/i.test(answer) && !/\[UNAVAILABLE\]/i.test(answer) ? 'auth' : 'unavailable';
      throw new ProxyFailed(kind, `the old server answered: ${answer.slice(0, 200)}`);
    }
    let after = capsIn(answer);
    if (!after) {
      send('P4 CAPABILITY');
      after = capsOfUntagged((await tagged(r, 'P4'))[1]);
    }
    const rest = r.detach();
    if (rest.length) throw new ProxyFailed('unavailable', 'the old server sent data after its login answer');
    clearTimeout(timer);
    return { socket, capabilities: after, host: `${u.host}:${u.port}` };
  } catch (e) {
    clearTimeout(timer);
    socket.destroy();
    if (e instanceof ProxyFailed) throw e;
    throw new ProxyFailed('unavailable', (e as Error).message);
  }
}
