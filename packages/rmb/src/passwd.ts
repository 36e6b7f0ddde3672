/**
 * Users from a Dovecot-style passwd-file (https://doc.dovecot.org/configuration_manual/authentication/passwd_file/):
 * `user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]`, one per line, `#` comments. Schemes:
 * {PLAIN}, {CLEARTEXT}, {SHA512-CRYPT} / {SHA256-CRYPT} (unixcrypt), {BLF-CRYPT} (bcryptjs),
 * {CRYPT} with $6$/$5$/$2y$ hashes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { encrypt, verify } from 'unixcrypt';
import { type ScramCredentials, scramCredentials } from '@rmb/imap';

export interface PasswdEntry { user: string; scheme: string; hash: string; rest: string }

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
    out.set(user.toLowerCase(), { user, scheme: m ? m[1].toUpperCase() : 'CRYPT', hash: m ? m[2] : pw, rest: j < 0 ? '' : after.slice(j) });
  }
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Check `password` against an entry. Unknown schemes never match. */
export function checkPassword(e: PasswdEntry, password: string): boolean {
  try {
    switch (e.scheme) {
      case 'PLAIN': case 'CLEARTEXT': return safeEqual(e.hash, password);
      case 'BLF-CRYPT': return bcrypt.compareSync(password, e.hash.replace(/^\$2y\$/, '$2b$'));
      case 'SHA512-CRYPT': case 'SHA256-CRYPT': return verify(password, e.hash);
      case 'SCRAM-SHA-256': {
        const c = parseScram(e.hash);
        return !!c && timingSafeEqual(scramCredentials(password, c.salt, c.iterations).storedKey, c.storedKey);
      }
      case 'CRYPT':
        if (/^\$2[aby]\$/.test(e.hash)) return bcrypt.compareSync(password, e.hash.replace(/^\$2y\$/, '$2b$'));
        if (/^\$[56]\$/.test(e.hash)) return verify(password, e.hash);
        return false;
      default: return false;
    }
  } catch { return false; }
}

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
  return storedKey.length === 32 && serverKey.length === 32 ? { iterations: Number(p[0]), salt, storedKey, serverKey } : null;
}

/** Hash a password for the passwd-file in `scheme` ({SCRAM-SHA-256} by default, {SHA512-CRYPT} or {BLF-CRYPT}). */
export function hashPassword(password: string, scheme: WritableScheme = 'SCRAM-SHA-256'): string {
  if (scheme === 'SCRAM-SHA-256') {
    const c = scramCredentials(password);
    return `{SCRAM-SHA-256}${c.iterations},${[c.salt, c.storedKey, c.serverKey].map((b) => b.toString('base64')).join(',')}`;
  }
  if (scheme === 'BLF-CRYPT') return `{BLF-CRYPT}${bcrypt.hashSync(password, 10).replace(/^\$2b\$/, '$2y$')}`;
  return `{SHA512-CRYPT}${encrypt(password)}`;
}

/** A passwd-file, re-read when it changes on disk. */
export class PasswdFile {
  private entries = new Map<string, PasswdEntry>();
  private mtime = -1;
  constructor(readonly path: string) {}

  private load(): void {
    if (!existsSync(this.path)) { this.entries = new Map(); this.mtime = -1; return; }
    const m = statSync(this.path).mtimeMs;
    if (m === this.mtime) return;
    this.entries = parsePasswd(readFileSync(this.path, 'utf8'));
    this.mtime = m;
  }

  /** The canonical username for `user` (case-insensitive), or null. */
  find(user: string): string | null {
    this.load();
    return this.entries.get(user.toLowerCase())?.user ?? null;
  }

  /** Verify credentials; returns the canonical username or null. */
  authenticate(user: string, password: string): string | null {
    this.load();
    const e = this.entries.get(user.toLowerCase());
    return e && checkPassword(e, password) ? e.user : null;
  }

  /**
   * SCRAM-SHA-256 credentials of a user (RFC 5802 §3) and the canonical name: from a
   * {SCRAM-SHA-256} entry, or derived with a fresh salt from a {PLAIN} one; null for other
   * schemes (crypt hashes cannot give them) and unknown users.
   */
  scram(user: string): { user: string; creds: ScramCredentials } | null {
    this.load();
    const e = this.entries.get(user.toLowerCase());
    if (!e) return null;
    const creds = e.scheme === 'SCRAM-SHA-256' ? parseScram(e.hash) : e.scheme === 'PLAIN' || e.scheme === 'CLEARTEXT' ? scramCredentials(e.hash) : null;
    return creds ? { user: e.user, creds } : null;
  }

  list(): string[] { this.load(); return [...this.entries.values()].map((e) => e.user).sort(); }

  /** Add or replace a user's password (written atomically via rename). */
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
  }
}
