/**
 * Users from a Dovecot-style passwd-file (https://doc.dovecot.org/configuration_manual/authentication/passwd_file/):
 * `user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]`, one per line, `#` comments. Schemes:
 * {PLAIN}, {CLEARTEXT}, {SHA512-CRYPT} / {SHA256-CRYPT} (unixcrypt), {BLF-CRYPT} (bcryptjs),
 * {CRYPT} with $6$/$5$/$2y$ hashes.
 */
import {
  existsSync,
  type FSWatcher,
  mkdirSync,
  promises as fsp,
  readFileSync,
  renameSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { encrypt } from 'unixcrypt';
import { type ScramCredentials, scramCredentials, scramCredentialsAsync } from '@rmb/imap';
import type { Logger } from '@rmb/librmb';
import { verifyCrypt } from './crypt-worker.js';

export interface PasswdEntry {
  user: string;
  scheme: string;
  hash: string;
  rest: string;
}

/** Parse passwd-file text; malformed lines are skipped. */
export function parsePasswd(text: string): Map<string, PasswdEntry> {
  const out = new Map<string, PasswdEntry>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const user = line.slice(0, i);
    const after = line.slice(i + 1);
    const j = after.indexOf(':');
    const pw = j < 0 ? after : after.slice(0, j);
    const m = /^\{([A-Z0-9.-]+)\}(.*)$/i.exec(pw);
    out.set(user.toLowerCase(), {
      user,
      scheme: m ? m[1].toUpperCase() : 'CRYPT',
      hash: m ? m[2] : pw,
      rest: j < 0 ? '' : after.slice(j),
    });
  }
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a),
    y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Check `password` against an entry without blocking the event loop: crypt(3) schemes run in a
 * worker thread (crypt-worker.ts), SCRAM's PBKDF2 on libuv's pool. Unknown schemes never match.
 */
export async function checkPassword(e: PasswdEntry, password: string, log?: PasswdLog): Promise<boolean> {
  try {
    switch (e.scheme) {
      case 'PLAIN':
      case 'CLEARTEXT':
        return safeEqual(e.hash, password);
      case 'BLF-CRYPT':
        return await verifyCrypt('bcrypt', password, e.hash);
      case 'SHA512-CRYPT':
      case 'SHA256-CRYPT':
        return await verifyCrypt('sha-crypt', password, e.hash);
      case 'SCRAM-SHA-256': {
        const c = parseScram(e.hash);
        return (
          !!c && timingSafeEqual((await scramCredentialsAsync(password, c.salt, c.iterations)).storedKey, c.storedKey)
        );
      }
      case 'CRYPT':
        if (/^\$2[aby]\$/.test(e.hash)) return await verifyCrypt('bcrypt', password, e.hash);
        if (/^\$[56]\$/.test(e.hash)) return await verifyCrypt('sha-crypt', password, e.hash);
        return false;
      default:
        return false;
    }
  } catch (err) {
    // a malformed hash or a failed worker: the login fails, and the operator is told why
    log?.warn({ err, user: e.user, scheme: e.scheme }, 'password check failed');
    return false;
  }
}

/** Where PasswdFile reports failed password checks (librmb's Logger). */
export type PasswdLog = Pick<Logger, 'warn'>;

/** Password schemes `user add` can write. SCRAM-SHA-256 (the default) also allows AUTHENTICATE SCRAM-SHA-256. */
export type WritableScheme = 'SCRAM-SHA-256' | 'SHA512-CRYPT' | 'BLF-CRYPT';

/**
 * Parse Dovecot's {SCRAM-SHA-256} form "iterations,salt,StoredKey,ServerKey" (base64 parts);
 * null when malformed.
 */
export function parseScram(hash: string): ScramCredentials | null {
  const p = hash.split(',');
  if (p.length !== 4 || !/^\d+$/.test(p[0])) return null;
  const [salt, storedKey, serverKey] = p.slice(1).map((x) => Buffer.from(x, 'base64'));
  return storedKey.length === 32 && serverKey.length === 32
    ? { iterations: Number(p[0]), salt, storedKey, serverKey }
    : null;
}

/** Hash a password for the passwd-file in `scheme` ({SCRAM-SHA-256} by default, {SHA512-CRYPT} or {BLF-CRYPT}). */
export function hashPassword(password: string, scheme: WritableScheme = 'SCRAM-SHA-256'): string {
  if (scheme === 'SCRAM-SHA-256') {
    const c = scramCredentials(password);
    const keys = [c.salt, c.storedKey, c.serverKey].map((b) => b.toString('base64')).join(',');
    return `{SCRAM-SHA-256}${c.iterations},${keys}`;
  }
  if (scheme === 'BLF-CRYPT') return `{BLF-CRYPT}${bcrypt.hashSync(password, 10).replace(/^\$2b\$/, '$2y$')}`;
  return `{SHA512-CRYPT}${encrypt(password)}`;
}

/**
 * A passwd-file. The server's lookups (lookup, authenticate, scram) are asynchronous and read the
 * file once per change: a watch on its directory marks it stale when it is written (also by
 * another process, e.g. `rmb user add`), and the next lookup reads it again with async I/O. The
 * admin CLI's methods (find, list, set) read it synchronously.
 */
export class PasswdFile {
  private entries = new Map<string, PasswdEntry>();
  private mtime = -1;
  /** Entries as last read for the server's lookups; undefined when the file changed since. */
  private cached?: Promise<Map<string, PasswdEntry>>;
  private watcher?: FSWatcher;
  /** How many times the file was read for lookups (tests: once per change). */
  reads = 0;
  constructor(
    readonly path: string,
    private readonly log?: PasswdLog,
  ) {}

  private load(): void {
    if (!existsSync(this.path)) {
      this.entries = new Map();
      this.mtime = -1;
      return;
    }
    const m = statSync(this.path).mtimeMs;
    if (m === this.mtime) return;
    this.entries = parsePasswd(readFileSync(this.path, 'utf8'));
    this.mtime = m;
  }

  /** The entries for a lookup: cached until the file changes (async read, no stat per lookup). */
  private current(): Promise<Map<string, PasswdEntry>> {
    if (!this.watcher) this.watch();
    if (!this.cached) {
      this.reads++;
      const read = fsp.readFile(this.path, 'utf8').then(parsePasswd, (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return new Map<string, PasswdEntry>();
        throw e;
      });
      // a failed read is not cached: the next lookup tries again
      read.catch(() => {
        if (this.cached === read) this.cached = undefined;
      });
      this.cached = read;
    }
    return this.cached;
  }

  /** Watch the file's directory: any change to the file (written in place or renamed over) makes the cache stale. */
  private watch(): void {
    const dir = dirname(this.path),
      name = basename(this.path);
    try {
      mkdirSync(dir, { recursive: true });
      this.watcher = watch(dir, { persistent: false }, (_ev, file) => {
        if (!file || file === name || file === `${name}.tmp`) this.cached = undefined;
      });
      this.watcher.on('error', () => {
        this.watcher = undefined;
        this.cached = undefined;
      });
    } catch {
      this.cached = undefined; // no watch: every lookup reads the file
    }
  }

  /** Stop watching the file (the server stops). */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Read the file again at the next lookup (SIGHUP), whether or not its watch saw a change. */
  reload(): void {
    this.cached = undefined;
    this.mtime = -1;
  }

  /** The canonical username for `user` (case-insensitive), or null (async; see the class). */
  async lookup(user: string): Promise<string | null> {
    return (await this.current()).get(user.toLowerCase())?.user ?? null;
  }

  /** The canonical username for `user` (case-insensitive), or null (synchronous: admin CLI). */
  find(user: string): string | null {
    this.load();
    return this.entries.get(user.toLowerCase())?.user ?? null;
  }

  /** Verify credentials without blocking the event loop; returns the canonical username or null. */
  async authenticate(user: string, password: string): Promise<string | null> {
    const e = (await this.current()).get(user.toLowerCase());
    return e && (await checkPassword(e, password, this.log)) ? e.user : null;
  }

  /**
   * SCRAM-SHA-256 credentials of a user (RFC 5802 §3) and the canonical name: from a
   * {SCRAM-SHA-256} entry, or derived with a fresh salt from a {PLAIN} one; null for other
   * schemes (crypt hashes cannot give them) and unknown users.
   */
  async scram(user: string): Promise<{ user: string; creds: ScramCredentials } | null> {
    const e = (await this.current()).get(user.toLowerCase());
    if (!e) return null;
    const plain = e.scheme === 'PLAIN' || e.scheme === 'CLEARTEXT';
    const creds =
      e.scheme === 'SCRAM-SHA-256' ? parseScram(e.hash) : plain ? await scramCredentialsAsync(e.hash) : null;
    return creds ? { user: e.user, creds } : null;
  }

  list(): string[] {
    this.load();
    return [...this.entries.values()].map((e) => e.user).sort();
  }

  /** Remove a user's line (written atomically via rename; synchronous: admin CLI). Returns whether it was there. */
  remove(user: string): boolean {
    this.load();
    if (!this.entries.delete(user.toLowerCase())) return false;
    const lines = [...this.entries.values()].map((e) => `${e.user}:{${e.scheme}}${e.hash}${e.rest}`);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
    renameSync(tmp, this.path);
    this.mtime = -1;
    this.cached = undefined;
    return true;
  }

  /** Add or replace a user's password (written atomically via rename; synchronous: admin CLI). */
  set(user: string, password: string, scheme?: WritableScheme): void {
    this.load();
    const prev = this.entries.get(user.toLowerCase());
    this.entries.set(user.toLowerCase(), { user, scheme: '', hash: '', rest: prev?.rest ?? '' });
    const lines: string[] = [];
    for (const e of this.entries.values()) {
      const pw = e.user === user ? hashPassword(password, scheme) : `{${e.scheme}}${e.hash}`;
      lines.push(`${e.user}:${pw}${e.rest}`);
    }
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
    this.mtime = -1;
    this.cached = undefined;
  }
}
