/**
 * rmb configuration: defaults, then a YAML file, then RMB_* environment variables, then command
 * line flags. Every limit is a named setting here (sizes in bytes, times in ms).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';

export interface Config {
  /** Directory for the embedded store, passwd file and generated TLS certificate. */
  dataDir: string;
  /**
   * Where mail lives: `embedded` (LMDB under dataDir/store or `path`), `memory` (tests) or
   * `librados` (a Ceph cluster: `ceph.conf` path, client name, optional keyring, and the
   * timeout of every RADOS operation in ms, how often to ask the monitors whether the pool is
   * full in ms). `pool` must exist on Ceph.
   */
  store: {
    backend: 'embedded' | 'memory' | 'librados'; path?: string; pool: string;
    /** RADOS namespace prefix of this store inside the pool (several stores can share one). */
    namespace: string;
    /** Mail data per RADOS object (bytes; larger mails are striped; Ceph allows 128 MiB) and largest write (Ceph: 90 MiB). */
    stripeBytes: number; writeBytes: number;
    /** Bytes of a streamed mail gathered before each write (bounds a streamed APPEND's memory). */
    streamWriteBytes: number;
    /** How long an expunged mail stays readable for sessions that still address it (ms, RFC 2180 §4.1). */
    expungeGraceMs: number;
    ceph: { conf?: string; client: string; keyring?: string; opTimeoutMs: number; fullCheckIntervalMs: number };
  };
  /** Per-user quota (RFC 9208): total message bytes and messages over all mailboxes; 0 = unlimited. */
  quota: { storageBytes: number; messages: number };
  /** METADATA (RFC 5464) limits: largest value in bytes, most entries per user. */
  metadata: { maxEntryBytes: number; maxEntries: number };
  imap: {
    host: string; port: number; tlsPort: number | null;
    maxLineBytes: number; maxLiteralBytes: number; preAuthTimeoutMs: number; authTimeoutMs: number; maxAuthFailures: number; idlePollMs: number;
    /** APPEND messages above this are streamed to the store (bytes); streamBufferBytes: most buffered per APPEND. */
    streamLiteralBytes: number; streamBufferBytes: number;
    /** Deepest nesting of parenthesized lists and of SEARCH's NOT/OR (BAD beyond). */
    maxNestingDepth: number;
    /** Connections at once, in all and from one peer address (beyond: `* BYE [UNAVAILABLE]`). */
    maxConnections: number; maxConnectionsPerAddress: number;
  };
  /**
   * LMTP: largest message (bytes); connections at once in all (when full, an idle connection, one
   * with no transaction, is closed to make room) and from one peer address; idle time before a
   * connection is closed (ms).
   */
  lmtp: { host: string; port: number | null; maxMessageBytes: number; maxClients: number; maxClientsPerAddress: number; idleTimeoutMs: number };
  tls: { cert?: string; key?: string };
  auth: {
    passwdFile?: string;
    /** Cleartext LOGIN/AUTHENTICATE without TLS: from loopback peers only, always, or never. */
    plaintextAuth: 'loopback' | 'always' | 'never';
  };
  log: { level: string };
  serverName: string;
  /** On SIGTERM, how long commands and deliveries in flight may take to finish before connections are cut (ms). */
  shutdownGraceMs: number;
}

export const DEFAULTS: Config = {
  dataDir: './data',
  store: { backend: 'embedded', pool: 'mail', namespace: '', stripeBytes: 64 << 20, writeBytes: 16 << 20, streamWriteBytes: 1 << 20, expungeGraceMs: 3_600_000, ceph: { client: 'client.admin', opTimeoutMs: 10_000, fullCheckIntervalMs: 5000 } },
  quota: { storageBytes: 0, messages: 0 },
  metadata: { maxEntryBytes: 64 * 1024, maxEntries: 1000 },
  imap: {
    host: '127.0.0.1', port: 1143, tlsPort: 1993,
    maxLineBytes: 64 * 1024, maxLiteralBytes: 64 * 1024 * 1024, preAuthTimeoutMs: 60_000, authTimeoutMs: 30 * 60_000, maxAuthFailures: 3, idlePollMs: 30_000,
    streamLiteralBytes: 1 << 20, streamBufferBytes: 4 << 20, maxNestingDepth: 256,
    maxConnections: 5000, maxConnectionsPerAddress: 200,
  },
  lmtp: { host: '127.0.0.1', port: 2424, maxMessageBytes: 64 * 1024 * 1024, maxClients: 100, maxClientsPerAddress: 50, idleTimeoutMs: 60_000 },
  tls: {},
  auth: { plaintextAuth: 'loopback' },
  log: { level: 'info' },
  serverName: 'rmb',
  shutdownGraceMs: 30_000,
};

type Dict = { [k: string]: unknown };

function merge(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object') out[k] = merge(base[k] as Dict, v as Dict);
    else if (v !== undefined) out[k] = v;
  }
  return out;
}

function coerce(v: string): unknown {
  if (v === 'null') return null;
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}

/** Parse "a.b.c=value" overrides into a nested object. */
function overridesFrom(pairs: [string, string][]): Dict {
  const out: Dict = {};
  for (const [path, value] of pairs) {
    const keys = path.split('.');
    let cur = out;
    keys.slice(0, -1).forEach((k) => { cur = (cur[k] ??= {}) as Dict; });
    cur[keys[keys.length - 1]] = coerce(value);
  }
  return out;
}

/**
 * Load the configuration. `file` is a YAML path (optional); env RMB_IMAP__PORT=1143 style
 * variables (double underscore = nesting) and `sets` ("imap.port=1143") override it.
 * Throws on an unreadable file or invalid values.
 */
export function loadConfig(file?: string, sets: string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  let cfg = DEFAULTS as unknown as Dict;
  if (file) cfg = merge(cfg, (YAML.parse(readFileSync(file, 'utf8')) ?? {}) as Dict);
  const envPairs: [string, string][] = Object.entries(env)
    .filter(([k, v]) => k.startsWith('RMB_') && v !== undefined)
    .map(([k, v]) => [k.slice(4).toLowerCase().split('__').map((p) => p.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())).join('.'), v!]);
  cfg = merge(cfg, overridesFrom(envPairs));
  cfg = merge(cfg, overridesFrom(sets.map((s) => { const i = s.indexOf('='); if (i < 0) throw new Error(`--set needs key=value: ${s}`); return [s.slice(0, i), s.slice(i + 1)]; })));
  const c = cfg as unknown as Config;
  c.dataDir = resolve(c.dataDir);
  if (!['embedded', 'memory', 'librados'].includes(c.store.backend)) {
    throw new Error(`store.backend must be embedded, memory or librados, not ${c.store.backend}`);
  }
  if (!(c.store.stripeBytes > 0 && c.store.stripeBytes <= 128 << 20 && c.store.writeBytes > 0 && c.store.writeBytes <= 90 << 20)) {
    throw new Error('store.stripeBytes must be in (0, 128 MiB] and store.writeBytes in (0, 90 MiB]');
  }
  if (typeof c.store.ceph.opTimeoutMs !== 'number' || c.store.ceph.opTimeoutMs < 1000) throw new Error('store.ceph.opTimeoutMs must be a number >= 1000');
  if (!['loopback', 'always', 'never'].includes(c.auth.plaintextAuth)) throw new Error('auth.plaintextAuth must be loopback, always or never');
  for (const [k, v] of Object.entries(c.imap)) if (k !== 'host' && v !== null && typeof v !== 'number') throw new Error(`imap.${k} must be a number`);
  return c;
}
