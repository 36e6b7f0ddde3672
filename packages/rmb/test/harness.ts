/**
 * Test harness: runs `rmb serve` as a child process on a temporary data directory with ports
 * chosen by the OS, and helpers to talk to it (raw sockets, the test corpus).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ImapFlow } from 'imapflow';
import nodemailer, { type Transporter } from 'nodemailer';
import pino from 'pino';
import { type Cluster, connect as connectStore } from '@rmb/rados';
import { cephFromEnv, outsideSuite, type OutsidePart } from '@rmb/rados/testing';
import { MailStore, type MailStoreOptions } from '@rmb/librmb';
import { createImapServer, type ImapLimits } from '@rmb/imap';
import { DEFAULTS } from '../src/config.js';
import { PasswdFile } from '../src/passwd.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..', '..', '..');
export const cli = join(repoRoot, 'packages', 'rmb', 'dist', 'src', 'cli.js');

/** A running server child. */
export interface ServerChild {
  proc: ChildProcess;
  dataDir: string;
  imap: number;
  imaps: number;
  lmtp: number;
  /** The metrics endpoint's port (0 when off). */
  metrics: number;
  stop(): Promise<void>;
}

/** Store backends the end-to-end suites run on. */
export type Backend = 'embedded' | 'librados';

/**
 * `--set` overrides that put a server on `backend`: for librados the cluster from the
 * environment (RMB_CEPH_CONF, RMB_CEPH_POOL) and a fresh RADOS namespace, so runs sharing a pool
 * never see each other's users. Reuse the result for restarts of the same store.
 */
export function storeSets(backend: Backend): string[] {
  if (backend === 'embedded') return [];
  const ceph = cephFromEnv();
  if (!ceph) throw new Error('RMB_CEPH_CONF is not set');
  return [
    'store.backend=librados',
    `store.ceph.conf=${ceph.conf}`,
    `store.ceph.client=${ceph.client}`,
    `store.pool=${ceph.pool}`,
    `store.namespace=t-${randomUUID()}.`,
  ];
}

/** A new data directory with users (name -> password) in its passwd file. */
export function newDataDir(users: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rmb-e2e-'));
  const p = new PasswdFile(join(dir, 'passwd'));
  for (const [u, pw] of Object.entries(users)) p.set(u, pw);
  return dir;
}

/**
 * Run the admin CLI, `rmb <args>` on `dataDir` with `sets` (e.g. storeSets), as an operator would
 * beside a running server: its stdout, stderr and exit code (never throws for a non-zero exit).
 */
export function rmbCli(
  dataDir: string,
  args: string[],
  sets: string[] = [],
): Promise<{ out: string; err: string; code: number }> {
  const all = [cli, ...args, '-s', `dataDir=${dataDir}`, '-s', 'log.level=warn', ...sets.flatMap((s) => ['-s', s])];
  return new Promise((resolve) => {
    execFile(process.execPath, all, { maxBuffer: 64 << 20 }, (e, out, err) =>
      resolve({ out, err, code: e ? Number((e as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

/** rmbCli's stdout; rejects with its stderr when it exits non-zero. */
export async function rmbOut(dataDir: string, ...args: string[]): Promise<string> {
  const r = await rmbCli(dataDir, args);
  if (r.code) throw new Error(r.err || `rmb ${args.join(' ')} exited ${r.code}`);
  return r.out;
}

/** Start `rmb serve` on `dataDir` with extra `--set` overrides; resolves once it prints READY. */
export function startServer(dataDir: string, sets: string[] = []): Promise<ServerChild> {
  const args = [
    cli,
    'serve',
    '-s',
    `dataDir=${dataDir}`,
    '-s',
    'imap.port=0',
    '-s',
    'imap.tlsPort=0',
    '-s',
    'lmtp.port=0',
    '-s',
    'log.level=warn',
    // one process: the suites measure the server's own memory and kill it by pid; the
    // multi-process suites ask for workers themselves
    '-s',
    'workers=1',
    ...sets.flatMap((s) => ['-s', s]),
  ];
  return waitReady(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }), dataDir);
}

/** Wait for the READY line of a starting server process. */
export function waitReady(proc: ChildProcess, dataDir: string): Promise<ServerChild> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${err}`)), 60000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY imap=(\d+) imaps=(\d*) lmtp=(\d*) metrics=(\d*)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({
          proc,
          dataDir,
          imap: Number(m[1]),
          imaps: Number(m[2]),
          lmtp: Number(m[3]),
          metrics: Number(m[4]),
          stop: () =>
            new Promise<void>((r) => {
              if (proc.exitCode !== null) return r();
              // a server waiting on an unreachable cluster gets 20 s to finish, then is killed
              const kill = setTimeout(() => proc.kill('SIGKILL'), 20000);
              proc.once('exit', () => {
                clearTimeout(kill);
                r();
              });
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}: ${out} ${err}`));
    });
  });
}

/** A line-oriented raw client for protocol tests. */
/**
 * The one raw IMAP test client: sends lines (and literals), waits for text. It reads the socket,
 * or, after COMPRESS, whatever stream `listen` is pointed at (e.g. an inflate stream); it writes
 * through `sendTo` (the socket, or a deflate stream).
 */
export class RawClient {
  private buf = '';
  private waiters: (() => void)[] = [];
  /** Where send() writes: the socket until replaced (COMPRESS). */
  sendTo: (data: string | Buffer) => void;
  constructor(readonly sock: Socket) {
    this.sendTo = (d) => sock.write(d);
    this.listen(sock);
  }
  /** Take received text from `source` ('data' events of Buffers) from now on. */
  listen(source: NodeJS.EventEmitter): void {
    source.on('data', (d: Buffer) => this.received(d));
  }

  /** Bytes of a literal being handed to a reader instead of kept (see readLiteral). */
  private diversion?: { left: number; onBytes: (b: Buffer) => void; done: () => void };

  private received(d: Buffer): void {
    if (this.diversion) {
      const v = this.diversion;
      const n = Math.min(v.left, d.length);
      v.onBytes(d.subarray(0, n));
      v.left -= n;
      d = d.subarray(n);
      if (v.left === 0) {
        this.diversion = undefined;
        v.done();
      }
    }
    if (d.length) this.buf += d.toString('latin1');
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Hand the next `size` bytes received (a literal announced by the line just read with line())
   * to `onBytes` as they arrive, without keeping them: a literal of any size in bounded memory.
   * Resolves once all of them came.
   */
  readLiteral(size: number, onBytes: (b: Buffer) => void): Promise<void> {
    return new Promise((resolve) => {
      this.diversion = { left: size, onBytes, done: resolve };
      const pending = Buffer.from(this.buf, 'latin1'); // latin1: each char is one received byte
      this.buf = '';
      if (pending.length) this.received(pending);
      else if (size === 0) {
        this.diversion = undefined;
        resolve();
      }
    });
  }

  /** Wait for a complete line matching `re`; returns the text up to it (without its CRLF), keeps the rest. */
  async line(re: RegExp, ms = 10000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const lines = this.buf.split('\r\n');
      const i = lines.slice(0, -1).findIndex((l) => re.test(l));
      if (i >= 0) {
        const upto = lines.slice(0, i + 1).join('\r\n');
        this.buf = this.buf.slice(upto.length + 2);
        return upto;
      }
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${re}; got: ${this.buf.slice(-500)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** Send `chunks` as they come, waiting whenever the socket asks to (backpressure). */
  async sendAll(chunks: Iterable<Buffer>): Promise<void> {
    for (const c of chunks) {
      if (!this.sock.write(c)) await new Promise((r) => this.sock.once('drain', r));
    }
  }
  static open(port: number): Promise<RawClient> {
    return new Promise((r, j) => {
      const s = connect(port, '127.0.0.1', () => r(new RawClient(s)));
      s.once('error', j);
    });
  }
  send(s: string | Buffer): void {
    this.sendTo(s);
  }
  /** Wait until the received text matches `re`; returns everything received so far and clears it. */
  async until(re: RegExp, ms = 10000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!re.test(this.buf)) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${re}; got: ${this.buf.slice(-500)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const out = this.buf;
    this.buf = '';
    return out;
  }
  /** Received text not yet consumed. */
  peek(): string {
    return this.buf;
  }

  private tags = 0;
  /** Tags of command(): this prefix and a counter. */
  tagPrefix = 'r';
  /** Milliseconds command() waits for its tagged answer. */
  commandTimeoutMs = 10000;
  /**
   * Send `line` under a new tag, with `literal` after it as a non-synchronizing literal when given;
   * resolves with everything received up to its tagged OK/NO/BAD line.
   */
  command(line: string, literal?: string | Buffer): Promise<string> {
    const tag = `${this.tagPrefix}${++this.tags}`;
    if (literal === undefined) this.send(`${tag} ${line}\r\n`);
    else {
      const lit = Buffer.isBuffer(literal) ? literal : Buffer.from(literal);
      this.send(Buffer.concat([Buffer.from(`${tag} ${line} {${lit.length}+}\r\n`), lit, Buffer.from('\r\n')]));
    }
    return this.until(new RegExp(`^${tag} (OK|NO|BAD).*\\r\\n`, 'm'), this.commandTimeoutMs);
  }
  /** command(), split: the untagged lines and the tagged one. */
  async lines(line: string, literal?: string | Buffer): Promise<{ untagged: string[]; tagged: string }> {
    const out = (await this.command(line, literal)).split('\r\n').filter(Boolean);
    const tagged = out[out.length - 1];
    return { untagged: out.filter((l) => l.startsWith('* ')), tagged };
  }
  /** command(), only its tagged line. */
  async tagged(line: string, literal?: string | Buffer): Promise<string> {
    return (await this.lines(line, literal)).tagged;
  }

  /** Connect to an IMAP server on 127.0.0.1:`port` and wait for its greeting; command() tags start with `tagPrefix`. */
  static async greeted(port: number, tagPrefix = 'r'): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.tagPrefix = tagPrefix;
    await c.until(/^\* OK/m);
    return c;
  }
  close(): void {
    this.sock.destroy();
  }
}

export { corpusFiles } from '@rmb/rados/testing';

/** An imapflow client for 127.0.0.1:`port` without TLS (loopback may log in in cleartext), quiet. */
export function plainImapFlow(port: number, user: string, pass: string): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass },
    logger: false,
  });
}

/** A nodemailer LMTP transport to 127.0.0.1:`port` (no TLS), with extra transport options (pool, ...). */
export function lmtpTransport(port: number, extra: Record<string, unknown> = {}): Transporter {
  return nodemailer.createTransport({
    lmtp: true,
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    ...extra,
  } as never);
}

/** What a FETCH BODY[] literal carries for stored bytes: NUL as 0x80 (RFC 3501 §9 CHAR8; BINARY[] keeps NUL). */
export function asServed(b: Buffer): Buffer {
  return Buffer.from(b.map((x) => (x === 0 ? 0x80 : x)));
}

/** What an LMTP client transfers: CRLF line endings and a final CRLF. */
export function asTransferred(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) {
    if (i === 0 || b[i - 1] !== 0x0d) {
      parts.push(b.subarray(start, i), Buffer.from('\r\n'));
      start = i + 1;
    }
  }
  parts.push(b.subarray(start));
  let out = Buffer.concat(parts);
  // a final lone CR becomes the CR of the line break the client adds before the closing dot
  if (out[out.length - 1] === 0x0d) out = Buffer.concat([out, Buffer.from('\n')]);
  else if (!out.subarray(-2).equals(Buffer.from('\r\n'))) out = Buffer.concat([out, Buffer.from('\r\n')]);
  return out;
}

/** An IMAP server in this process on a memory store (fast protocol tests). */
export interface InProcessServer {
  port: number;
  store: MailStore;
  close(): Promise<void>;
}

/**
 * Start an in-process IMAP server on a fresh memory store (seen through `wrap`, e.g. to inject faults); any password
 * is accepted.
 */
export async function inProcessServer(
  limits: Partial<ImapLimits> = {},
  storeOptions: MailStoreOptions = {},
  wrap: (c: Cluster) => Cluster = (c) => c,
): Promise<InProcessServer> {
  const cluster = wrap(await connectStore({ backend: 'memory' }));
  const log = pino({ level: 'silent' });
  const store = await MailStore.open(cluster, { log, ...storeOptions });
  const server = createImapServer({
    store,
    authenticate: async (u) => u,
    plaintextAllowed: () => true,
    log,
    serverName: 'rmb',
    limits: { ...DEFAULTS.imap, ...limits },
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    port: (server.address() as AddressInfo).port,
    store,
    close: async () => {
      server.close();
      await cluster.close();
    },
  };
}

/** A reference Dovecot started by scripts/dovecot-local.sh. */
export interface ReferenceDovecot {
  imap: number;
  /** Implicit-TLS IMAP port (started with --tls), else 0. */
  imaps: number;
  lmtp: number;
  dir: string;
  stop(): Promise<void>;
}

/** Whether Debian's Dovecot is installed (the differential suites need it). */
export function dovecotAvailable(): boolean {
  return ['/usr/sbin/dovecot', '/usr/bin/dovecot'].some((p) => existsSync(p));
}

/** Debian's Dovecot, the reference server of the differential suites. */
export const DOVECOT: OutsidePart = {
  part: 'Dovecot (Debian dovecot-imapd dovecot-lmtpd)',
  present: dovecotAvailable,
  requiredBy: 'RMB_DOVECOT_REQUIRED',
  howTo: 'apt-get install dovecot-imapd dovecot-lmtpd && npm test',
};

/** A real client or tool at `path` from Debian package `pkg`, required in .ci/run by RMB_CLIENTS_REQUIRED. */
export function clientPart(path: string, pkg: string): OutsidePart {
  return {
    part: `${path} (Debian ${pkg})`,
    present: () => existsSync(path),
    requiredBy: 'RMB_CLIENTS_REQUIRED',
    howTo: `apt-get install ${pkg} && npm test`,
  };
}

/** Register `fn` as describe(name) when Dovecot is installed (see outsideSuite). */
export function dovecotSuite(name: string, fn: () => void): void {
  outsideSuite(name, DOVECOT, fn);
}

/**
 * Start a throwaway Dovecot (`--full`: every extension rmb is compared on) with these users;
 * `extra` options of scripts/dovecot-local.sh (e.g. `--maildir`).
 */
export async function startDovecot(users: Record<string, string>, extra: string[] = []): Promise<ReferenceDovecot> {
  const base = mkdtempSync('/tmp/rmb-dovecot-');
  chmodSync(base, 0o755);
  const dir = join(base, 'd');
  const script = join(repoRoot, 'scripts', 'dovecot-local.sh');
  const out = execFileSync(
    script,
    ['start', dir, '--full', ...extra, ...Object.entries(users).map(([u, p]) => `${u}:${p}`)],
    {
      encoding: 'utf8',
    },
  );
  const port = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(out)?.[1] ?? 0);
  return {
    imaps: port('DOVECOT_IMAPS_PORT'),
    imap: port('DOVECOT_IMAP_PORT'),
    lmtp: port('DOVECOT_LMTP_PORT'),
    dir,
    stop: async () => {
      execFileSync(script, ['stop', dir]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
