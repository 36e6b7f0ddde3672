/**
 * A minimal IMAP client connection for the runner: sends raw command parts (waiting for "+"
 * before synchronizing literals), collects every untagged response in arrival order and
 * resolves tagged ones by tag. Responses keep literals apart (see tokens.ts LITERAL_MARK).
 */
import { connect, type Socket } from 'node:net';
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw } from 'node:zlib';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { LITERAL_MARK } from './tokens.js';

/** A server response: text with literal markers, and the literals' data. */
export interface Response {
  text: string;
  literals: string[];
}

/** Thrown when the server does not answer in time or closes the connection. */
export class ConnectionError extends Error {}

export class Connection {
  /** Untagged responses ("* ..."), in order, without the leading "* ". */
  readonly untagged: Response[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private pendingText: string[] = [];
  private pendingLits: string[] = [];
  private need = -1;
  private tagWaiters = new Map<string, (r: Response) => void>();
  private contWaiter?: (r: Response | null) => void;
  private closed = false;
  private seq = 0;
  greeting?: Response;
  private greeted?: () => void;

  private constructor(
    private socket: Socket,
    private timeoutMs: number,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      this.contWaiter?.(null);
      for (const w of this.tagWaiters.values()) w({ text: '* BYE closed', literals: [] });
    });
    socket.on('error', () => {});
  }

  /** Connect and wait for the greeting. Times out after timeoutMs (ms). */
  static async open(host: string, port: number, timeoutMs: number): Promise<Connection> {
    const socket = connect({ host, port });
    await new Promise<void>((res, rej) => {
      socket.once('connect', () => res());
      socket.once('error', rej);
    });
    const c = new Connection(socket, timeoutMs);
    await c.within(
      new Promise<void>((res) => {
        c.greeted = res;
        if (c.greeting) res();
      }),
      'greeting',
    );
    return c;
  }

  private deflate?: DeflateRaw;

  private write(data: string | Buffer): void {
    if (this.deflate) {
      this.deflate.write(data);
      this.deflate.flush(constants.Z_SYNC_FLUSH);
    } else this.socket.write(data);
  }

  /** Switch both directions to raw DEFLATE (RFC 4978), after the server's OK to COMPRESS. */
  startCompression(): void {
    const inflate = createInflateRaw();
    this.socket.removeAllListeners('data');
    this.socket.on('data', (d: Buffer) => inflate.write(d));
    inflate.on('data', (d: Buffer) => this.onData(d));
    this.deflate = createDeflateRaw();
    this.deflate.on('data', (d: Buffer) => this.socket.write(d));
  }

  /** Login name and password for the SASL helpers of scripts ($scram_first, $scram_final). */
  credentials?: { user: string; pass: string };
  private scram?: { bare: string; nonce: string };

  /**
   * SCRAM-SHA-256 client steps (RFC 5802 §3) for continuation lines: `$scram_first` is the
   * client-first-message, `$scram_final` the client-final-message for the server's challenge
   * `challenge` (base64); both sent base64-encoded.
   */
  private saslExpand(text: string, challenge: string): string {
    const c = this.credentials;
    if (!c || !text.includes('$scram_')) return text;
    if (text.includes('$scram_first')) {
      const nonce = randomBytes(18).toString('base64');
      this.scram = { bare: `n=${c.user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`, nonce };
      return text.replace('$scram_first', Buffer.from(`n,,${this.scram.bare}`).toString('base64'));
    }
    const s = this.scram!;
    const serverFirst = Buffer.from(challenge.trim(), 'base64').toString();
    const a = new Map(serverFirst.split(',').map((x) => [x[0], x.slice(2)] as [string, string]));
    const salted = pbkdf2Sync(c.pass, Buffer.from(a.get('s')!, 'base64'), Number(a.get('i')), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${a.get('r')}`;
    const sig = createHmac('sha256', storedKey).update(`${s.bare},${serverFirst},${withoutProof}`).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i])).toString('base64');
    return text.replace('$scram_final', Buffer.from(`${withoutProof},p=${proof}`).toString('base64'));
  }

  /** Hold writes until uncork(): pipelined commands leave in one segment. */
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }

  /** A fresh automatic tag. */
  nextTag(): string {
    return `a${++this.seq}`;
  }

  private within<T>(p: Promise<T>, what: string): Promise<T> {
    let t: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<T>((_, rej) => {
        t = setTimeout(() => rej(new ConnectionError(`no ${what} within ${this.timeoutMs} ms`)), this.timeoutMs);
      }),
    ]).finally(() => clearTimeout(t));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.need >= 0) {
        if (this.buf.length < this.need) return;
        this.pendingLits.push(this.buf.subarray(0, this.need).toString('utf8'));
        this.pendingText.push(LITERAL_MARK);
        this.buf = this.buf.subarray(this.need);
        this.need = -1;
        continue;
      }
      const nl = this.buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 2);
      const m = /~?\{(\d+)\}$/.exec(line);
      if (m) {
        this.pendingText.push(line.slice(0, m.index));
        this.need = Number(m[1]);
        continue;
      }
      this.pendingText.push(line);
      const r: Response = { text: this.pendingText.join(''), literals: this.pendingLits };
      this.pendingText = [];
      this.pendingLits = [];
      this.dispatch(r);
    }
  }

  private dispatch(r: Response): void {
    if (!this.greeting) {
      this.greeting = r;
      this.greeted?.();
      return;
    }
    if (r.text.startsWith('+')) {
      const w = this.contWaiter;
      this.contWaiter = undefined;
      w?.(r);
      return;
    }
    if (r.text.startsWith('* ')) {
      this.untagged.push({ text: r.text.slice(2), literals: r.literals });
      return;
    }
    const sp = r.text.indexOf(' ');
    const tag = r.text.slice(0, sp).toLowerCase();
    const w = this.tagWaiters.get(tag);
    if (w) {
      this.tagWaiters.delete(tag);
      w({ text: r.text.slice(sp + 1), literals: r.literals });
    }
    // a tagged reply of an earlier continuation-aborted command: also release a literal waiter
    this.contWaiter?.(null);
    this.contWaiter = undefined;
  }

  /**
   * Send a command: `parts` as in scripts (text, then a literal's data). Synchronizing literals
   * wait for "+"; if the server answers with a tagged reply instead, the rest is not sent.
   * Returns (once sent) a promise of the tagged reply (text after the tag).
   */
  async send(
    tag: string,
    parts: { text: string; literal?: { data: string | Buffer; sync: boolean; unsendable?: boolean }; cont?: boolean }[],
  ): Promise<{ done: Promise<Response> }> {
    const done = new Promise<Response>((res) => this.tagWaiters.set(tag.toLowerCase(), res));
    let first = true;
    let ended = false;
    for (const p of parts) {
      if (p.cont) {
        if (!ended) throw new ConnectionError('a continuation line must follow a complete command line');
        const cont = await this.within(
          new Promise<Response | null>((res) => {
            this.contWaiter = res;
          }),
          'continuation request',
        );
        if (!cont) return { done };
        this.write(`${this.saslExpand(p.text, cont.text.slice(2))}\r\n`);
        continue;
      }
      if (ended) throw new ConnectionError('command text after the end of the command');
      const head = (first ? `${tag} ` : '') + p.text;
      first = false;
      if (!p.literal) {
        this.write(`${head}\r\n`);
        ended = true;
        continue;
      }
      const size = typeof p.literal.data === 'string' ? Buffer.byteLength(p.literal.data) : p.literal.data.length;
      const marker = new RegExp(`\\{${size}\\+?\\}$`);
      if (!p.literal.unsendable && !marker.test(head)) throw new ConnectionError(`literal marker does not say ${size}`);
      this.write(`${head}\r\n`);
      if (p.literal.sync) {
        const cont = await this.within(
          new Promise<Response | null>((res) => {
            this.contWaiter = res;
          }),
          'continuation',
        );
        if (!cont) return { done };
        if (p.literal.unsendable) {
          // the server asked for a literal it should have refused: end the connection
          this.socket.destroy();
          return { done };
        }
      }
      this.write(p.literal.data);
    }
    return { done };
  }

  /** Run one command to completion; returns the tagged reply. */
  async run(text: string): Promise<Response> {
    const tag = this.nextTag();
    return this.wait((await this.send(tag, [{ text }])).done, text);
  }

  /** Wait (bounded) for a tagged reply. */
  wait(p: Promise<Response>, what: string): Promise<Response> {
    return this.within(p, `reply to ${what.slice(0, 60)}`);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Close without LOGOUT. */
  close(): void {
    this.socket.destroy();
  }
}
