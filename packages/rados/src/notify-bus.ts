/**
 * Watch/notify across processes for the embedded store (issue 14): every process that opens the
 * same LMDB directory also joins a bus of Unix stream sockets under `<path>/notify/`, one socket
 * per process, every process connected to every other. A notify is delivered to the watchers of
 * the notifying process at once and sent to every peer, which delivers it to its own watchers, so
 * the embedded store keeps the contract's watch/notify across processes as Ceph does across nodes
 * (docs.ceph.com, "librados: watch/notify"). Delivery is asynchronous (the notifier does not wait
 * for other processes' acknowledgements); what watchers do with a notify (re-read the object) does
 * not depend on it being exactly once.
 *
 * Peers are found by listing the directory when a process joins (it then greets every peer over
 * its own connection) and again every `rescanMs`; a socket nobody answers on (a process killed
 * with SIGKILL) is removed by the first process that fails to connect to it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** One message on the bus: the watch key, the object, the payload (base64) and the notifier. */
interface BusMessage {
  k: string;
  o: string;
  p: string;
  n: string;
}

/** Most time a joining process waits for a member's welcome, ms. */
const WELCOME_MS = 1000;

/** Longest Unix socket path Linux takes (sun_path, 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** The bus of one process (see the file comment). */
export class NotifyBus {
  private server?: Server;
  private readonly peers = new Map<string, Socket>();
  /** Every open connection, to peers or from them (a pair of processes may hold two). */
  private readonly sockets = new Set<Socket>();
  private readonly name = `${process.pid}.${randomBytes(3).toString('hex')}`;
  private timer?: NodeJS.Timeout;
  private closed = false;

  /**
   * `dir`: the bus directory (created); `deliver`: hands a message from another process to this
   * process's watchers. Call start() before use.
   */
  constructor(
    private readonly dir: string,
    private readonly deliver: (key: string, oid: string, payload: Buffer, notifier: string) => void,
    private readonly rescanMs = 2000,
  ) {}

  /** The socket path of a member: in the directory, or in Linux's abstract namespace when too long. */
  private pathOf(name: string): string {
    const p = join(this.dir, `${name}.sock`);
    return Buffer.byteLength(p) <= MAX_SOCKET_PATH ? p : `\0rmb-notify:${p}`;
  }

  /** Listen, then greet every member already there. Resolves once listening. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.server = createServer((s) => this.attach(s, null));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.pathOf(this.name), () => resolve());
    });
    // the bus never keeps a process alive on its own
    this.server.unref();
    // every member there now knows this process once start() resolves: a watch set up after it
    // gets every later notify of theirs
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.rescanMs);
    this.timer.unref();
  }

  /**
   * Connect to every member of the directory not connected yet, greet it, and wait for its
   * welcome (it has then counted this process in), at most WELCOME_MS per member.
   */
  private async scan(): Promise<void> {
    if (this.closed) return;
    let names: string[];
    try {
      names = readdirSync(this.dir)
        .filter((f) => f.endsWith('.sock'))
        .map((f) => f.slice(0, -5));
    } catch {
      return;
    }
    const joins = names
      .filter((peer) => peer !== this.name && !this.peers.has(peer))
      .map(
        (peer) =>
          new Promise<void>((resolve) => {
            const s = netConnect(this.pathOf(peer));
            const timer = setTimeout(resolve, WELCOME_MS);
            s.once('error', (e: NodeJS.ErrnoException) => {
              clearTimeout(timer);
              // nobody listens there: a process that died without cleaning up
              if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') this.removeStale(peer);
              resolve();
            });
            s.once('connect', () => {
              this.attach(s, peer, () => {
                clearTimeout(timer);
                resolve();
              });
              s.write(`${JSON.stringify({ hello: this.name })}\n`);
            });
          }),
      );
    await Promise.all(joins);
  }

  private removeStale(peer: string): void {
    const p = this.pathOf(peer);
    if (p.startsWith('\0')) return;
    try {
      unlinkSync(p);
    } catch {
      /* gone already */
    }
  }

  /**
   * Read messages from a connection; `peer` is known for outgoing ones (`welcomed` is called when
   * the peer answers the greeting), learnt from the greeting for incoming ones (answered with a
   * welcome once the newcomer is counted in).
   */
  private attach(s: Socket, peer: string | null, welcomed?: () => void): void {
    s.setNoDelay(true);
    s.unref();
    this.sockets.add(s);
    if (this.closed) s.destroy();
    if (peer) this.peers.set(peer, s);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: BusMessage & { hello?: string; welcome?: string };
        try {
          m = JSON.parse(line) as BusMessage & { hello?: string; welcome?: string };
        } catch {
          continue;
        }
        if (m.hello) {
          if (!peer) {
            peer = m.hello;
            if (!this.peers.has(peer)) this.peers.set(peer, s);
          }
          s.write(`${JSON.stringify({ welcome: this.name })}\n`);
          continue;
        }
        if (m.welcome) {
          welcomed?.();
          continue;
        }
        this.deliver(m.k, m.o, Buffer.from(m.p, 'base64'), m.n);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.sockets.delete(s);
      if (peer && this.peers.get(peer) === s) this.peers.delete(peer);
    });
  }

  /** Send a notify to every other process (best effort: a peer that is gone is dropped). */
  publish(key: string, oid: string, payload: Buffer, notifier: string): void {
    if (this.closed || !this.peers.size) return;
    const line = `${JSON.stringify({ k: key, o: oid, p: payload.toString('base64'), n: notifier })}\n`;
    for (const s of this.peers.values()) if (!s.destroyed) s.write(line);
  }

  /** Members connected now (tests, diagnostics). */
  get peerCount(): number {
    return this.peers.size;
  }

  /** Leave the bus: close every connection and remove this process's socket. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // every connection, incoming ones included: the server's close waits for them to end
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.peers.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
