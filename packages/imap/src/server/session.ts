/**
 * One IMAP connection: reads commands with the pure CommandReader, runs them one at a time
 * (pipelined commands queue up), writes responses, and delivers untagged updates of the
 * selected mailbox. STARTTLS upgrades the socket in place (RFC 3501 §6.2.1).
 */
import type { AuthThrottle } from './auth-throttle.js';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger, MailStore, UserStore } from '@rmb/librmb';
import type { ScramCredentials } from '../protocol/scram.js';
import { capabilityList, type State } from '../protocol/capabilities.js';
import { CommandReader, endsWithLiteral, type RawCommand, type ReaderEvent } from '../protocol/reader.js';
import { ParseError, tokenize, type ParsedCommand, asAstring, type Token } from '../protocol/tokens.js';
import { decodeMailboxName, encodeMailboxName, InvalidMutf7 } from '../protocol/utf7.js';
import { type Chunk, literalSafe } from '../protocol/encode.js';
import { COMMANDS } from './commands/index.js';
import type { CommandContext } from './context.js';
import { bad, no, toResponse } from './errors.js';
import { type ResponseCode, type Status, taggedLine } from '../protocol/response.js';
import { tooBigInAppend } from './commands/append.js';
import { SelectedView } from './selected.js';
import { LiteralStream, STREAM_GC_BYTES } from './literal-stream.js';
import { constants as zlibConstants, createDeflateRaw, createInflateRaw } from 'node:zlib';
import type { Upstream } from './proxy.js';
import { quickAck } from './tcp.js';

/** The logger (librmb's Logger: pino-compatible). */
export type Log = Logger;

/** Limits of the IMAP server; every one is a named config setting. */
export interface ImapLimits {
  /** Longest command line in bytes, literals excluded. */
  maxLineBytes: number;
  /** Largest literal in bytes (and so the largest APPEND). */
  maxLiteralBytes: number;
  /** Time from connecting to logging in, ms: nothing the client sends extends it. */
  preAuthTimeoutMs: number;
  /** Time without a command before an authenticated connection is closed, ms (RFC 3501 §5.4: at least 30 min). */
  authTimeoutMs: number;
  /** Connections served at once; beyond it a new one gets `* BYE [UNAVAILABLE]`. */
  maxConnections: number;
  /** Connections from one peer address at once; beyond it a new one gets `* BYE [UNAVAILABLE]`. */
  maxConnectionsPerAddress: number;
  /** Failed authentications before the connection is closed. */
  maxAuthFailures: number;
  /** APPEND messages above this many bytes are streamed to the store; other literals above it are refused. */
  streamLiteralBytes: number;
  /** Most bytes of a streamed APPEND buffered before the connection is paused. */
  streamBufferBytes: number;
  /** How often IDLE looks at the mailbox when it cannot watch it (cluster trouble), ms. */
  idlePollMs: number;
  /** Deepest nesting of parenthesized lists, and of SEARCH's lists, NOT and OR (a clear BAD beyond). */
  maxNestingDepth: number;
  /**
   * How often the routes of logged-in users are read again (ms), so a session whose user was
   * frozen or moved on another node ends (issue 13) even where no notify reaches this process.
   */
  routeCheckMs: number;
}

/** Everything a session needs from the server. */
export interface SessionEnv {
  store: MailStore;
  /** Check credentials; returns the canonical username or null. */
  authenticate(username: string, password: string): Promise<string | null>;
  /**
   * Told of every command run (metrics): its name (UID commands by their own name), the status of
   * its tagged reply ('OK', 'NO', 'BAD', or 'none' when the connection ended first), seconds taken.
   */
  observe?: { command(name: string, result: string, seconds: number): void };
  /** Failed-authentication throttling per address and user name; without it, a fixed 200 ms delay per failure. */
  authThrottle?: AuthThrottle;
  /**
   * SCRAM-SHA-256 credentials and canonical name of a user, or null (unknown user, or a password
   * kept in a form SCRAM cannot use). Without it AUTH=SCRAM-SHA-256 is not offered.
   */
  scramCredentials?(username: string): Promise<{ user: string; creds: ScramCredentials } | null>;
  tlsContext?: SecureContext;
  /** Whether cleartext LOGIN/AUTHENTICATE is allowed for this peer (e.g. trusted network). */
  plaintextAllowed(remoteAddress: string): boolean;
  limits: ImapLimits;
  log: Log;
  serverName: string;
  /**
   * Run a full garbage collection, if the process allows it. Streamed APPENDs and FETCHes of
   * large mails call it every STREAM_GC_BYTES (literal-stream.ts), so the garbage they leave (socket chunks, read
   * pieces) cannot pile up to V8's lazy threshold: memory stays bounded by a few pieces.
   */
  collectGarbage?: () => void;
  /**
   * Proxying to the old server of a user routed `source` (issue 13). Without it such a user's
   * login is refused with NO [UNAVAILABLE].
   */
  proxy?: {
    /** Log in there as this master user instead of with the user's own password. */
    master?: { user: string; password: string };
    /** Most time to connect and log in at the old server, ms. */
    timeoutMs: number;
  };
}

/** Bytes of a large message body read and sent at a time (FETCH of a streamed literal). */
const SEND_PIECE_BYTES = 1 << 20;

export class Session {
  state: State = 'not-authenticated';
  user?: UserStore;
  username?: string;
  selected?: SelectedView;
  tls: boolean;
  /** The TCP socket under any TLS layer (for socket options), when known. */
  private readonly tcp?: Socket;
  utf8 = false;
  enabled = new Set<string>();
  authFailures = 0;
  readonly id: string;
  /** When the connection was accepted, ms since epoch. */
  readonly startedAt = Date.now();
  private reader: CommandReader;
  private queue: ReaderEvent[] = [];
  private running = false;
  private lineHandler?: (line: string) => void;
  private closed = false;
  private timer?: NodeJS.Timeout;
  /** Set while IDLE: called when the selected mailbox changed. */
  idleWake?: () => void;
  /** Whether the current command allows EXPUNGE responses. */
  private allowExpunge = true;
  /** What must follow the streamed literal on its line for its command to be the one dispatched. */
  private literalRest = '';
  /** The streamed APPEND literal being received, if any. */
  private literal?: LiteralStream;

  constructor(
    public socket: Socket,
    readonly env: SessionEnv,
    tls: boolean,
    id: string,
    tcp?: Socket,
  ) {
    this.tls = tls;
    this.tcp = tcp ?? (tls ? undefined : socket);
    this.id = id;
    this.reader = new CommandReader({
      maxLineBytes: env.limits.maxLineBytes,
      maxLiteralBytes: env.limits.maxLiteralBytes,
      maxCommandBytes: env.limits.maxLiteralBytes + env.limits.streamLiteralBytes,
      streamLiteralBytes: env.limits.streamLiteralBytes,
    });
    this.attach(socket);
    this.write(`* OK [CAPABILITY ${this.capabilities().join(' ')}] ${env.serverName} ready.\r\n`);
    this.touch();
  }

  private attach(socket: Socket): void {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => {
      this.env.log.debug({ err: e, session: this.id }, 'socket error');
    });
    socket.on('close', () => {
      void this.cleanup();
    });
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /** Capabilities for the current state (from the capability table). */
  capabilities(): string[] {
    return capabilityList(this.state, {
      tls: this.tls,
      tlsAvailable: !!this.env.tlsContext,
      plaintextAuthAllowed: this.plaintextAllowed(),
      appendLimit: this.env.limits.maxLiteralBytes,
      scram: !!this.env.scramCredentials,
    });
  }

  plaintextAllowed(): boolean {
    return this.tls || this.env.plaintextAllowed(this.remoteAddress);
  }

  private touch(): void {
    clearTimeout(this.timer);
    const ms = this.state === 'not-authenticated' ? this.env.limits.preAuthTimeoutMs : this.env.limits.authTimeoutMs;
    this.timer = setTimeout(() => {
      this.write('* BYE Disconnected for inactivity.\r\n');
      this.close();
    }, ms);
    this.timer.unref();
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    if (this.proxied) {
      this.toUpstream(d);
      return;
    }
    // before login nothing the client sends extends its time (a trickle cannot hold a connection);
    // after login a streamed APPEND's data counts as activity
    if (this.literal && this.state !== 'not-authenticated') this.touch();
    let events: ReaderEvent[];
    try {
      events = this.reader.push(d);
    } catch (e) {
      this.env.log.error({ err: e }, 'reader failure');
      this.write('* BYE Internal error\r\n');
      this.close();
      return;
    }
    for (const ev of events) {
      if (ev.type === 'continue') {
        this.continuation('Ready for literal data');
        continue;
      }
      if (ev.type === 'stream-start') {
        const ls = this.openLiteral(ev.size, ev.cmd.parts[ev.cmd.parts.length - 1] ?? '');
        this.queue.push({
          type: 'command',
          cmd: {
            parts: [...ev.cmd.parts, this.literalRest],
            literals: [...ev.cmd.literals, Buffer.alloc(0)],
            streamed: ls,
          },
        });
        continue;
      }
      if (ev.type === 'stream-data') {
        this.literal?.push(ev.chunk);
        continue;
      }
      if (ev.type === 'stream-next') {
        // the next message of the MULTIAPPEND streams into its own literal (RFC 3502); the APPEND
        // running on the first one takes it with next()
        const cur = this.literal;
        if (!cur) continue;
        if (!ev.rest.startsWith(this.literalRest)) {
          cur.fail(bad('Invalid APPEND arguments after the message'));
          this.literal = undefined;
          continue;
        }
        const text = ev.rest.slice(this.literalRest.length);
        cur.end();
        cur.follow({ text, stream: this.openLiteral(ev.size, text) });
        continue;
      }
      if (ev.type === 'stream-end') {
        if (ev.rest === this.literalRest) {
          this.literal?.end();
          this.literal?.follow(null);
        } else {
          this.literal?.fail(
            endsWithLiteral(ev.rest)
              ? tooBigInAppend(this.env.limits.maxLiteralBytes)
              : bad('Invalid APPEND arguments after the message'),
          );
        }
        this.literal = undefined;
        continue;
      }
      this.queue.push(ev);
    }
    this.pumpWhileWaiting();
    void this.drain();
  }

  /**
   * Start receiving a streamed APPEND message of `size` bytes, the text before its literal being
   * `before`: the socket pauses while the store is behind; the UTF8 form (RFC 6855 §4:
   * `UTF8 (~{n}`) closes its list after the literal, so ")" must follow it.
   */
  private openLiteral(size: number, before: string): LiteralStream {
    const ls = new LiteralStream(
      size,
      () => this.socket.pause(),
      () => this.socket.resume(),
      this.env.limits.streamBufferBytes,
      this.env.collectGarbage,
    );
    this.literal = ls;
    this.literalRest = /UTF8 \(~$/i.test(before) ? ')' : '';
    return ls;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const ev = this.queue.shift()!;
        if (ev.type === 'error') {
          this.write(
            ev.kind === 'literal-too-big'
              ? taggedLine(ev.tag, 'NO', ev.message, 'TOOBIG')
              : taggedLine(ev.tag, 'BAD', ev.message),
          );
          continue;
        }
        if (ev.type !== 'command') continue;
        if (this.lineHandler) {
          const h = this.lineHandler;
          h(ev.cmd.parts.join(''));
          continue;
        }
        await this.execute(ev.cmd);
        if (this.stopping) break;
      }
    } finally {
      this.running = false;
    }
    if (this.stopping) this.bye();
  }

  /** Set by shutdown(): no further command is started. */
  private stopping = false;

  /**
   * End the session for a server shutdown: a command in flight (an APPEND being received, a
   * FETCH being sent) is finished first, then `* BYE` and the connection is closed; an idle
   * session, or one in IDLE, gets its BYE at once. Resolves when the connection is closed.
   */
  shutdown(): Promise<void> {
    this.stopping = true;
    if (!this.closed && (!this.running || this.idleWake)) this.bye();
    return this.closedSignal.promise;
  }

  private bye(): void {
    if (this.closed) return;
    // a proxied session is between two of the old server's responses only after a line end
    if (!this.proxied || this.upstreamAtLineEnd) this.write(`* BYE ${this.byeText}\r\n`);
    this.close();
  }

  private byeText = 'Server shutting down.';

  /**
   * End the session because its user moved (issue 13: the route changed): like shutdown(), the
   * command in flight finishes first, then `* BYE <text>`. A proxied session gets the BYE only
   * when the old server's output stands at a line end, else the connection is just closed.
   */
  kick(text: string): void {
    this.byeText = text;
    void this.shutdown();
  }

  /** The old server's connection while this session is proxied there (issue 13). */
  proxied?: Upstream;
  /** Whether the last byte from the old server ended a line (a BYE may be written then). */
  private upstreamAtLineEnd = true;

  /** Pass client bytes to the old server, pausing the client while the old server is behind. */
  private toUpstream(d: Buffer): void {
    const up = this.proxied!.socket;
    if (!up.write(d)) {
      this.socket.pause();
      up.once('drain', () => this.socket.resume());
    }
  }

  /**
   * Become a proxy to the old server for `username` (issue 13, as Dovecot's proxy): answer the
   * login `tag` OK with the old server's capabilities, pass on what the client pipelined after its
   * login, then pipe bytes both ways until either side closes. COMPRESS, IDLE and everything else
   * pass through untouched. A pipelined command with a literal cannot be replayed: the session
   * then ends with BYE.
   */
  startProxy(tag: string, username: string, up: Upstream): void {
    const queued = this.queue.splice(0);
    const plain = queued.every((ev) => ev.type === 'command' && !ev.cmd.literals.length && !ev.cmd.streamed);
    const rest = plain ? this.reader.takeBuffered() : null;
    if (rest === null) {
      up.socket.destroy();
      this.write('* BYE Pipelined command after login cannot be proxied\r\n');
      this.close();
      return;
    }
    const replay = queued.map((ev) => Buffer.from(`${ev.type === 'command' ? ev.cmd.parts.join('') : ''}\r\n`, 'utf8'));
    clearTimeout(this.timer);
    this.proxied = up;
    this.username = username;
    this.reply(tag, 'OK', 'Logged in (proxied)', `CAPABILITY ${up.capabilities.join(' ')}`);
    up.socket.on('data', (d: Buffer) => {
      this.upstreamAtLineEnd = d[d.length - 1] === 0x0a;
      if (!this.socket.write(d)) {
        up.socket.pause();
        this.socket.once('drain', () => up.socket.resume());
      }
    });
    up.socket.on('error', (e) => this.env.log.debug({ err: e, session: this.id }, 'upstream error'));
    up.socket.on('close', () => this.close());
    for (const b of [...replay, rest]) if (b.length) this.toUpstream(b);
  }

  /** Resolved once the connection is closed (see cleanup). */
  private readonly closedSignal = (() => {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  })();

  /** Route the next raw line to `h` instead of the command parser (IDLE's DONE, SASL responses). */
  nextLine(): Promise<string> {
    return new Promise((resolve) => {
      this.lineHandler = (line) => {
        this.lineHandler = undefined;
        resolve(line);
      };
      // a line may already be queued (pipelined after the command): deliver it now
      this.pumpWhileWaiting();
    });
  }

  /** While a command awaits nextLine inside drain, new lines must still reach the handler. */
  private pumpWhileWaiting(): void {
    while (this.lineHandler && this.queue.length) {
      const ev = this.queue.shift()!;
      if (ev.type === 'command') this.lineHandler(ev.cmd.parts.join(''));
    }
  }

  private async execute(raw: RawCommand): Promise<void> {
    let cmd: ParsedCommand;
    try {
      cmd = tokenize(raw, this.env.limits.maxNestingDepth);
    } catch (e) {
      const tag = (e as { tag?: string }).tag ?? '*';
      // only the parser's own messages reach the client, never an internal error's text
      if (!(e instanceof ParseError)) this.env.log.warn({ err: e, session: this.id }, 'tokenizer failure');
      this.reply(tag, 'BAD', e instanceof ParseError ? e.message : 'Invalid command');
      this.env.observe?.command('(unparsed)', 'BAD', 0);
      return;
    }
    let name = cmd.name;
    let args = cmd.args;
    let uid = false;
    if (name === 'UID') {
      const sub = args[0];
      if (!sub || sub.type !== 'atom') {
        this.reply(cmd.tag, 'BAD', 'Missing UID command');
        this.env.observe?.command('UID', 'BAD', 0);
        return;
      }
      name = sub.value.toUpperCase();
      args = args.slice(1);
      uid = true;
    }
    const spec = COMMANDS.get(name);
    if (!spec || (uid && !spec.uidForm)) {
      this.reply(cmd.tag, 'BAD', `Unknown command ${(uid ? 'UID ' : '') + name}`.slice(0, 150));
      // one label for every unknown name: a client cannot grow the metrics without bound
      this.env.observe?.command('(unknown)', 'BAD', 0);
      return;
    }
    if (!spec.states.includes(this.state)) {
      this.reply(cmd.tag, 'BAD', `Command ${name} not valid in state ${this.state}`);
      this.env.observe?.command(name, 'BAD', 0);
      return;
    }
    // RFC 3501 §5.5 / §7.4.1: no EXPUNGE while this command uses sequence numbers, nor when the
    // client has already pipelined one that does (it numbered its messages before seeing them)
    this.allowExpunge =
      !!spec.breaksSequenceNumbers || (!(spec.usesSequenceNumbers && !uid) && !this.queuedUsesSequenceNumbers());
    const started = Date.now();
    const t0 = process.hrtime.bigint();
    this.runningTag = cmd.tag;
    this.runningStatus = undefined;
    if (this.state !== 'not-authenticated') this.touch();
    try {
      const base: CommandContext = { session: this, tag: cmd.tag, name, args, uid, streamed: raw.streamed };
      const user = this.user;
      const view = this.selected;
      const wrongState = () => bad(`Command ${name} not valid in state ${this.state}`);
      if (spec.needs === undefined) await spec.run(base);
      else if (!user) throw wrongState();
      else if (spec.needs === 'user') await spec.run({ ...base, user });
      else if (!view) throw wrongState();
      else await spec.run({ ...base, user, view });
    } catch (e) {
      const r = toResponse(e, !!spec.tryCreate);
      if (r.internal) this.env.log.warn({ err: e, session: this.id, command: name }, 'command failed');
      await this.sendUpdates();
      this.reply(cmd.tag, r.status, r.text, r.code);
    } finally {
      if (this.state !== 'not-authenticated') this.touch();
      this.allowExpunge = true;
      this.env.log.debug({ session: this.id, command: name, ms: Date.now() - started }, 'command');
      this.env.observe?.command(name, this.runningStatus ?? 'none', Number(process.hrtime.bigint() - t0) / 1e9);
      this.runningTag = undefined;
    }
  }

  /** Whether a command waiting in the pipeline uses sequence numbers (FETCH, STORE, SEARCH, COPY without UID). */
  private queuedUsesSequenceNumbers(): boolean {
    return this.queue.some((ev) => {
      if (ev.type !== 'command') return false;
      const m = /^\S+ +(\S+)/.exec(ev.cmd.parts[0] ?? '');
      const spec = m && COMMANDS.get(m[1].toUpperCase());
      return !!spec?.usesSequenceNumbers;
    });
  }

  /** Send the pending untagged updates of the selected mailbox (EXPUNGE only when allowed). */
  async sendUpdates(forceRefresh = false): Promise<void> {
    const v = this.selected;
    if (!v) return;
    if (v.dirty || forceRefresh) {
      try {
        await v.refresh();
      } catch (e) {
        this.env.log.warn({ err: e }, 'refresh failed');
      }
    }
    for (const line of v.flush(this.allowExpunge, this.enabled.has('CONDSTORE'), this.enabled.has('QRESYNC')))
      this.write(`${line}\r\n`);
  }

  /** Set when a command turned CONDSTORE on while a mailbox was selected: its OK reports HIGHESTMODSEQ. */
  private reportHighestModseq = false;

  /**
   * Turn CONDSTORE on for this connection, as every CONDSTORE-enabling command does (RFC 7162
   * §3.1: SELECT/EXAMINE (CONDSTORE), STATUS HIGHESTMODSEQ, FETCH MODSEQ or CHANGEDSINCE, SEARCH
   * MODSEQ, STORE UNCHANGEDSINCE, ENABLE). From then on untagged FETCH responses carry MODSEQ; when
   * it happens with a mailbox selected, the command's OK carries [HIGHESTMODSEQ n].
   */
  enableCondstore(): void {
    if (this.enabled.has('CONDSTORE')) return;
    this.enabled.add('CONDSTORE');
    if (this.selected) this.reportHighestModseq = true;
  }

  /**
   * Tagged OK after the pending updates. After the first CONDSTORE-enabling command in a selected
   * mailbox the OK carries [HIGHESTMODSEQ n] (RFC 7162 §3.1), or, when the OK has a code of its
   * own, an untagged OK before it does.
   */
  async ok(tag: string, text: string, code?: ResponseCode): Promise<void> {
    await this.sendUpdates();
    if (this.reportHighestModseq && this.selected) {
      const highest: ResponseCode = `HIGHESTMODSEQ ${this.selected.modseq}`;
      if (code) this.write(`* OK [${highest}] Highest\r\n`);
      else code = highest;
    }
    this.reportHighestModseq = false;
    this.reply(tag, 'OK', text, code);
  }

  /**
   * Write a tagged response now, with no pending updates before it (the one writer of tagged
   * lines: commands that must not send updates first, and the session's own BAD/NO answers).
   */
  reply(tag: string, status: Status, text: string, code?: ResponseCode | null): void {
    if (tag === this.runningTag) this.runningStatus = status;
    this.write(taggedLine(tag, status, text, code));
  }
  /** The tag of the command being run, and the status its tagged reply gave (metrics). */
  private runningTag?: string;
  private runningStatus?: Status;

  /**
   * Send response chunks in order, lazy literals (large message bodies) piece by piece as they
   * are read, waiting for the socket to drain between pieces: memory stays bounded by one piece.
   */
  async send(chunks: Chunk[]): Promise<void> {
    let run: (string | Buffer)[] = [];
    for (const c of chunks) {
      if (typeof c === 'string' || Buffer.isBuffer(c)) {
        run.push(c);
        continue;
      }
      run.push(`{${c.lazy.size}}\r\n`);
      this.write(run);
      run = [];
      const piece = SEND_PIECE_BYTES;
      for (let off = 0; off < c.lazy.size && !this.closed; off += piece) {
        let data: Buffer;
        try {
          data = literalSafe(await c.lazy.read(off, Math.min(piece, c.lazy.size - off)));
        } catch (e) {
          // the literal's size is already sent: the response cannot be completed, only cut off
          this.env.log.warn({ err: e, session: this.id }, 'reading a message failed mid-response; closing');
          this.close();
          return;
        }
        if (this.closed || this.socket.destroyed) return;
        if (
          this.env.collectGarbage &&
          Math.floor((off + data.length) / STREAM_GC_BYTES) > Math.floor(off / STREAM_GC_BYTES)
        )
          this.env.collectGarbage();
        this.output(data);
        await this.writable();
      }
    }
    if (run.length) this.write(run);
  }

  /** Write a response line or chunks (strings as UTF-8, Buffers as is). */
  /**
   * Send a continuation request (`+ text`, RFC 9051 §7.5) and put the TCP connection in quick-ACK
   * mode, so the client's next write is acknowledged at once (see tcp.ts: Nagle's algorithm on
   * the client would otherwise hold its next small write for the delayed ACK, ~40 ms).
   */
  continuation(text: string): void {
    this.write(`+ ${text}\r\n`);
    quickAck(this.tcp);
  }

  write(data: string | Buffer | (string | Buffer)[]): void {
    if (this.closed || this.socket.destroyed) return;
    if (Array.isArray(data)) {
      this.output(Buffer.concat(data.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c))));
    } else this.output(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Decode a mailbox name argument (modified UTF-7 unless UTF8=ACCEPT). */
  mailboxArg(t: Token | undefined, creating = false): string {
    try {
      return decodeMailboxName(asAstring(t, 'mailbox name'), this.utf8);
    } catch (e) {
      if (!(e instanceof InvalidMutf7)) throw e;
      // no mailbox has such a name: NO, not BAD (as Dovecot answers)
      throw creating
        ? no('CANNOT', e.message)
        : no('NONEXISTENT', "Mailbox doesn't exist (its name is not valid modified UTF-7)");
    }
  }

  /** Encode a mailbox name for a response. */
  mailboxOut(name: string): string {
    return encodeMailboxName(name, this.utf8);
  }

  /** Enter the authenticated state for `username`. */
  async login(username: string): Promise<void> {
    this.user = await this.env.store.user(username, true);
    this.username = username;
    this.state = 'authenticated';
    this.touch();
  }

  /** Back to the not-authenticated state (UNAUTHENTICATE, RFC 8437): no mailbox, no user. */
  async logout(): Promise<void> {
    await this.select(undefined);
    this.user = undefined;
    this.username = undefined;
    this.state = 'not-authenticated';
    this.enabled.clear();
    this.touch();
  }

  /** Select (or examine) a mailbox, replacing any selection. */
  async select(view: SelectedView | undefined): Promise<void> {
    const old = this.selected;
    this.selected = undefined;
    if (old) await old.close();
    if (view) {
      this.selected = view;
      this.state = 'selected';
    } else if (this.state === 'selected') this.state = 'authenticated';
  }

  /** Called by the view when its mailbox changed; wakes IDLE. */
  onMailboxChange(): void {
    this.idleWake?.();
  }

  /**
   * Where responses go: the socket, or after COMPRESS DEFLATE a raw deflate stream flushed after
   * every write. Returns false when the socket wants the caller to wait for 'drain'.
   */
  private output: (data: Buffer) => boolean = (data) => this.socket.write(data);

  /** Streams between responses and the peer, outermost last (the deflate stream, the socket). */
  private sinks: NodeJS.WritableStream[] = [];

  /** Resolves once no stream on the way out asks the writer to wait (backpressure). */
  async writable(): Promise<void> {
    for (const w of [...this.sinks, this.socket] as (NodeJS.WritableStream & { writableNeedDrain?: boolean })[]) {
      if (w.writableNeedDrain && !this.socket.destroyed) {
        await new Promise<void>((r) => {
          w.once('drain', r);
          this.socket.once('close', r);
        });
      }
    }
  }

  /** True once COMPRESS DEFLATE is active (RFC 4978). */
  compressed = false;

  /**
   * Start DEFLATE compression in both directions (RFC 4978 §3, raw deflate, RFC 1951), right
   * after the tagged OK of COMPRESS was written uncompressed.
   */
  startCompression(): void {
    const sock = this.socket;
    sock.removeAllListeners('data');
    const inflate = createInflateRaw();
    const deflate = createDeflateRaw();
    sock.on('data', (d: Buffer) => inflate.write(d));
    inflate.on('data', (d: Buffer) => this.onData(d));
    inflate.on('error', (e) => {
      this.env.log.debug({ err: e, session: this.id }, 'bad compressed input');
      this.close();
    });
    deflate.on('data', (d: Buffer) => sock.write(d));
    // one sync flush per turn of the event loop, not per write: each flush is a call into zlib
    // (on the thread pool), and a command's responses come in many writes
    let flushing = false;
    this.output = (data) => {
      deflate.write(data);
      if (!flushing) {
        flushing = true;
        setImmediate(() => {
          flushing = false;
          deflate.flush(zlibConstants.Z_SYNC_FLUSH);
        });
      }
      return !sock.writableNeedDrain && !deflate.writableNeedDrain;
    };
    this.compressed = true;
    this.sinks = [deflate];
    // closing must wait for the last compressed bytes to leave
    this.endOutput = () => deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => sock.end());
  }

  /** End the output side (after pending compressed output when COMPRESS is active). */
  private endOutput: () => void = () => this.socket.end();

  /** Upgrade to TLS (STARTTLS); the reader restarts so no plaintext data leaks into TLS. */
  startTls(): void {
    const ctx = this.env.tlsContext!;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: ctx });
    this.socket = secure;
    this.tls = true;
    this.reader = new CommandReader(this.reader.limits);
    this.queue = [];
    this.attach(secure);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.endOutput();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    void this.cleanup();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private async cleanup(): Promise<void> {
    this.closed = true;
    this.proxied?.socket.destroy();
    this.closedSignal.resolve();
    clearTimeout(this.timer);
    this.idleWake?.();
    this.literal?.fail(new Error('connection closed during APPEND'));
    const v = this.selected;
    this.selected = undefined;
    if (v) await v.close().catch(() => undefined);
  }
}

export { isLoopback } from './loopback.js';
