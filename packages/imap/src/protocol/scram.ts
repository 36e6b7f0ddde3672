/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677's SHA-256), the server side of the exchange, without
 * channel binding (no -PLUS): pure functions over node:crypto. The credentials are what a
 * passwd file keeps ({SCRAM-SHA-256}iterations,salt,StoredKey,ServerKey, as Dovecot writes them).
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** What the server keeps for a user (RFC 5802 §3): no password, only the derived keys. */
export interface ScramCredentials {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, s: string) => createHmac('sha256', key).update(s).digest();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/** The credentials of a SaltedPassword (RFC 5802 §3). */
function fromSalted(salted: Buffer, salt: Buffer, iterations: number): ScramCredentials {
  return { iterations, salt, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/**
 * Derive SCRAM-SHA-256 credentials from a password (RFC 5802 §3; the password is used as given, no
 * SASLprep), synchronously: for the admin CLI. Servers use scramCredentialsAsync.
 */
export function scramCredentials(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = 4096,
): ScramCredentials {
  return fromSalted(pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256'), salt, iterations);
}

/** scramCredentials with PBKDF2 run on libuv's thread pool: the event loop is not blocked. */
export function scramCredentialsAsync(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations = 4096,
): Promise<ScramCredentials> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256', (e, salted) =>
      e ? reject(e) : resolve(fromSalted(salted, salt, iterations)),
    );
  });
}

/** Thrown for a malformed or unacceptable client message (the exchange fails). */
export class ScramError extends Error {}

/** RFC 5802 §5.1 saslname: "=2C" is ",", "=3D" is "=". */
function saslname(s: string): string {
  if (/=(?!2C|3D)/.test(s)) throw new ScramError('Invalid username encoding');
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

function attrs(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const m = /^([a-zA-Z])=(.*)$/s.exec(part);
    if (!m) throw new ScramError('Malformed attribute');
    out.set(m[1], m[2]);
  }
  return out;
}

/**
 * One server-side exchange. Call `clientFirst` with the client's first message (returns the
 * user name it names), then `serverFirst` with that user's credentials, then `clientFinal`:
 * it returns the server-final message when the proof is right, or null.
 */
export class ScramServer {
  private clientFirstBare = '';
  private gs2 = '';
  private nonce = '';
  private serverFirstMsg = '';
  private creds?: ScramCredentials;

  constructor(private readonly serverNonce: string = randomBytes(18).toString('base64')) {}

  /** Parse the client-first-message; returns the authentication identity. Throws ScramError. */
  clientFirst(msg: string): string {
    const m = /^([ny]|p=[^,]*),(a=[^,]*)?,(.*)$/s.exec(msg);
    if (!m) throw new ScramError('Malformed client-first-message');
    if (m[1].startsWith('p=')) throw new ScramError('Channel binding is not supported');
    this.gs2 = `${m[1]},${m[2] ?? ''},`;
    this.clientFirstBare = m[3];
    const a = attrs(m[3]);
    if (a.has('m')) throw new ScramError('Unsupported mandatory extension');
    const user = a.get('n');
    const cnonce = a.get('r');
    if (!user || !cnonce) throw new ScramError('Missing username or nonce');
    const authzid = m[2] ? saslname(m[2].slice(2)) : '';
    const authcid = saslname(user);
    if (authzid && authzid !== authcid) throw new ScramError('Proxy authorization is not supported');
    this.nonce = cnonce + this.serverNonce;
    return authcid;
  }

  /** The server-first-message for these credentials. */
  serverFirst(creds: ScramCredentials): string {
    this.creds = creds;
    this.serverFirstMsg = `r=${this.nonce},s=${creds.salt.toString('base64')},i=${creds.iterations}`;
    return this.serverFirstMsg;
  }

  /** Check the client-final-message; the server-final-message ("v=...") if the proof holds, else null. */
  clientFinal(msg: string): string | null {
    const creds = this.creds;
    if (!creds) throw new ScramError('serverFirst was not called');
    const i = msg.lastIndexOf(',p=');
    if (i < 0) throw new ScramError('Missing proof');
    const withoutProof = msg.slice(0, i);
    const a = attrs(withoutProof);
    if (a.get('c') !== Buffer.from(this.gs2).toString('base64')) throw new ScramError('Channel binding data mismatch');
    if (a.get('r') !== this.nonce) throw new ScramError('Nonce mismatch');
    const proof = Buffer.from(msg.slice(i + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirstMsg},${withoutProof}`;
    const signature = hmac(creds.storedKey, authMessage);
    if (proof.length !== signature.length) return null;
    const clientKey = Buffer.from(proof.map((b, k) => b ^ signature[k]));
    if (!timingSafeEqual(sha256(clientKey), creds.storedKey)) return null;
    return `v=${hmac(creds.serverKey, authMessage).toString('base64')}`;
  }
}
