/** A minimal LMTP client for tests (RFC 2033): pipelined MAIL, RCPT and DATA, one reply per recipient. */
import { connect, type Socket } from 'node:net';

/** A line reader over a socket; waiting reads reject when the socket closes. */
export class Lines {
  private buf = '';
  private waiters: { re: RegExp; resolve: (s: string) => void; reject: (e: Error) => void }[] = [];
  private closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.pump();
    });
    const end = () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
    };
    sock.on('close', end);
    sock.on('error', end);
  }
  private pump(): void {
    for (const w of [...this.waiters]) {
      const m = w.re.exec(this.buf);
      if (!m) continue;
      this.buf = this.buf.slice(m.index + m[0].length);
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(m[0]);
    }
  }
  /** The next text matching `re` (a whole reply line). */
  next(re: RegExp): Promise<string> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ re, resolve, reject });
      this.pump();
    });
  }
}

/** One LMTP connection, greeted and after LHLO. */
export class LmtpClient {
  private constructor(readonly lines: Lines) {}

  /** Connect to 127.0.0.1:`port`, read the greeting, say LHLO. Rejects when the server is not there. */
  static open(port: number): Promise<LmtpClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        const c = new LmtpClient(new Lines(s));
        c.lines
          .next(/^220 .*\r\n/m)
          .then(() => {
            s.write('LHLO test\r\n');
            return c.lines.next(/^250 .*\r\n/m);
          })
          .then(() => resolve(c), reject);
      });
      s.once('error', reject);
    });
  }

  /**
   * Send `body` (CRLF lines, no leading dots) from `from` to one recipient; resolves with the reply
   * after DATA (250, 4xx or 5xx line). A refused RCPT or MAIL is answered with RSET and returned.
   */
  async send(from: string, rcpt: string, body: string): Promise<string> {
    this.lines.sock.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    for (const expect of [/^\d{3} .*\r\n/m, /^\d{3} .*\r\n/m, /^\d{3} .*\r\n/m]) {
      const line = await this.lines.next(expect);
      if (line.startsWith('354')) {
        this.lines.sock.write(`${body}.\r\n`);
        const reply = await this.lines.next(/^\d{3} .*\r\n/m);
        if (!reply.startsWith('250')) {
          this.lines.sock.write('RSET\r\n');
          await this.lines.next(/^250 .*\r\n/m);
        }
        return reply.trimEnd();
      }
      if (!line.startsWith('250')) {
        // a refused MAIL or RCPT: the pipelined DATA is refused too (503 or 554)
        await this.lines.next(/^\d{3} .*\r\n/m).catch(() => '');
        this.lines.sock.write('RSET\r\n');
        await this.lines.next(/^250 .*\r\n/m);
        return line.trimEnd();
      }
    }
    throw new Error('no DATA reply');
  }

  close(): void {
    this.lines.sock.end('QUIT\r\n');
  }
  destroy(): void {
    this.lines.sock.destroy();
  }
}
