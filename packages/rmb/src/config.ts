/**
 * rmb configuration: defaults, then a YAML file, then RMB_* environment variables, then command
 * line flags. Every limit is a named setting here (sizes in bytes, times in ms). The merged result
 * is validated by one schema (zod): an unknown key or a wrong type is refused with one line naming
 * the key (ConfigError).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DEFAULT_AUTH_THROTTLE } from '@rmb/imap';

const count = z.number().int().nonnegative();
const positive = z.number().int().positive();
const port = z.number().int().min(0).max(65535);

/** The schema of the configuration; `Config` is its type. Objects are strict: unknown keys are errors. */
const CONFIG = z
  .object({
    /** Directory for the embedded store, passwd file and generated TLS certificate. */
    dataDir: z.string().min(1),
    /**
     * Where mail lives: `embedded` (LMDB under dataDir/store or `path`), `memory` (tests) or
     * `librados` (a Ceph cluster: `ceph.conf` path, client name, optional keyring, and the
     * timeout of every RADOS operation in ms, how often to ask the monitors whether the pool is
     * full in ms). `pool` must exist on Ceph.
     */
    store: z
      .object({
        backend: z.enum(['embedded', 'memory', 'librados']),
        path: z.string().optional(),
        pool: z.string().min(1),
        /** RADOS namespace prefix of this store inside the pool (several stores can share one). */
        namespace: z.coerce.string(),
        /** Mail data per RADOS object (larger mails are striped; Ceph allows 128 MiB). */
        stripeBytes: positive.max(128 << 20),
        /** Largest single write (Ceph: 90 MiB). */
        writeBytes: positive.max(90 << 20),
        /** Bytes of a streamed mail gathered before each write (bounds a streamed APPEND's memory). */
        streamWriteBytes: positive,
        /** How long an expunged mail stays readable for sessions that still address it (ms, RFC 2180 §4.1). */
        expungeGraceMs: count,
        /** Objects the user directory is sharded over, fixed when the store is first used (issue 14). */
        userShards: positive.max(65536),
        /** Most mailboxes of one user; CREATE beyond gets NO [LIMIT]. */
        maxMailboxes: positive,
        /** Messages the shared index caches of mailboxes no session has selected may hold. */
        indexCacheMessages: z.number().int().min(0),
        /** UIDs per range of a sharded mailbox index, fixed in each index when made (0 = never; ADR 0020). */
        indexShardEntries: z.number().int().min(0),
        /** Modseqs of changes each mailbox's change log keeps (0 = never trim; issue 15). */
        changeLogRecords: z.number().int().min(0),
        ceph: z
          .object({
            conf: z.string().optional(),
            client: z.string().min(1),
            keyring: z.string().optional(),
            opTimeoutMs: z.number().int().min(1000),
            fullCheckIntervalMs: count,
          })
          .strict(),
      })
      .strict(),
    /** Per-user quota (RFC 9208): total message bytes and messages over all mailboxes; 0 = unlimited. */
    quota: z.object({ storageBytes: count, messages: count }).strict(),
    /** METADATA (RFC 5464) limits: largest value in bytes, most entries per user. */
    metadata: z.object({ maxEntryBytes: positive, maxEntries: positive }).strict(),
    imap: z
      .object({
        host: z.string().min(1),
        port,
        tlsPort: port.nullable(),
        maxLineBytes: positive,
        maxLiteralBytes: positive,
        preAuthTimeoutMs: positive,
        authTimeoutMs: positive,
        maxAuthFailures: positive,
        idlePollMs: positive,
        /**
         * APPEND messages above this are streamed to the store (bytes); streamBufferBytes: most buffered per APPEND.
         */
        streamLiteralBytes: positive,
        streamBufferBytes: positive,
        /** Deepest nesting of parenthesized lists and of SEARCH's NOT/OR (BAD beyond). */
        maxNestingDepth: positive,
        /** How often logged-in users' routes are read again, so sessions of a moved user end (ms). */
        routeCheckMs: positive,
        /** Connections at once, in all and from one peer address (beyond: `* BYE [UNAVAILABLE]`). */
        maxConnections: positive,
        maxConnectionsPerAddress: positive,
      })
      .strict(),
    /**
     * LMTP: largest message (bytes); connections at once in all (when full, an idle connection, one
     * with no transaction, is closed to make room) and from one peer address; idle time before a
     * connection is closed (ms).
     */
    lmtp: z
      .object({
        host: z.string().min(1),
        port: port.nullable(),
        maxMessageBytes: positive,
        maxClients: positive,
        maxClientsPerAddress: positive,
        idleTimeoutMs: positive,
      })
      .strict(),
    tls: z.object({ cert: z.string().optional(), key: z.string().optional() }).strict(),
    /**
     * IMAP sessions of users routed to their old server (issue 13): proxied there (`enabled`), within
     * `timeoutMs` to connect and log in; with `masterUser` and `masterSecret` (env:NAME or
     * file:/path) rmb logs in there as that master user, else with the user's own password.
     */
    proxy: z
      .object({
        enabled: z.boolean(),
        timeoutMs: positive,
        masterUser: z.string().min(1).optional(),
        masterSecret: z
          .string()
          .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/, 'masterSecret must be env:NAME or file:/absolute/path')
          .optional(),
      })
      .strict(),
    auth: z
      .object({
        /** The passwd file; `<dataDir>/passwd` unless set (filled in by loadConfig). */
        passwdFile: z.string().min(1),
        /** Cleartext LOGIN/AUTHENTICATE without TLS: from loopback peers only, always, or never. */
        plaintextAuth: z.enum(['loopback', 'always', 'never']),
        /**
         * Failed-authentication throttling (per process): failures per address and per user name
         * within windowMs before they are refused with NO [UNAVAILABLE] for blockMs (0 = never);
         * each failure answered after baseDelayMs doubling per failure of the address, at most
         * maxDelayMs; addresses and names tracked at once.
         */
        throttle: z
          .object({
            addressFailures: count,
            userFailures: count,
            windowMs: positive,
            blockMs: positive,
            baseDelayMs: count,
            maxDelayMs: count,
            maxTracked: positive,
          })
          .strict(),
      })
      .strict(),
    /**
     * `rmb migrate`: users worked on at once, connections to one source host at once, UIDs per
     * UID FETCH, bytes of bodies fetched together, chunks fetched ahead of the one being written
     * (memory: about (1 + prefetchChunks) × chunkBytes per user), the size above which a mail is streamed into
     * striped objects (bytes), the lease a worker holds on a user (ms), the character that replaces
     * "/" inside a folder name of a "."-delimited source, the directory of per-user logs
     * (`<dataDir>/migrate-logs` unless set).
     */
    migrate: z
      .object({
        concurrency: positive.max(1000),
        connectionsPerHost: positive.max(1000),
        chunkMessages: positive.max(10000),
        chunkBytes: positive,
        prefetchChunks: count.max(16),
        largeMessageBytes: positive,
        leaseMs: z.number().int().min(1000),
        altChar: z.string().length(1),
        logDir: z.string().optional(),
      })
      .strict(),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }).strict(),
    serverName: z.string().min(1),
    /**
     * Front-end processes of `rmb serve` sharing the listeners (0: one per core). Default 1: on
     * the embedded store, writer processes split LMDB's group commit (ADR 0015).
     */
    workers: count.max(256),
    /** On SIGTERM, how long commands and deliveries in flight may take to finish before connections are cut (ms). */
    shutdownGraceMs: count,
    /**
     * The Prometheus endpoint (`/metrics`, `/health`, `/ready`; metrics.ts): its port (null = off)
     * and address (loopback unless set).
     */
    metrics: z.object({ port: port.nullable(), host: z.string().min(1) }).strict(),
  })
  .strict();

/** The validated configuration (see CONFIG for each setting). */
export type Config = z.infer<typeof CONFIG>;

/** Defaults of every setting; `auth.passwdFile` is `<dataDir>/passwd` when not set. */
export const DEFAULTS: Omit<Config, 'auth'> & { auth: Omit<Config['auth'], 'passwdFile'> & { passwdFile?: string } } = {
  dataDir: './data',
  store: {
    backend: 'embedded',
    pool: 'mail',
    namespace: '',
    stripeBytes: 64 << 20,
    writeBytes: 16 << 20,
    streamWriteBytes: 1 << 20,
    expungeGraceMs: 3_600_000,
    userShards: 64,
    maxMailboxes: 10_000,
    indexCacheMessages: 1_000_000,
    indexShardEntries: 10_000,
    changeLogRecords: 10_000,
    ceph: { client: 'client.admin', opTimeoutMs: 10_000, fullCheckIntervalMs: 5000 },
  },
  quota: { storageBytes: 0, messages: 0 },
  metadata: { maxEntryBytes: 64 * 1024, maxEntries: 1000 },
  imap: {
    host: '127.0.0.1',
    port: 1143,
    tlsPort: 1993,
    maxLineBytes: 64 * 1024,
    maxLiteralBytes: 64 * 1024 * 1024,
    preAuthTimeoutMs: 60_000,
    authTimeoutMs: 30 * 60_000,
    maxAuthFailures: 3,
    idlePollMs: 30_000,
    streamLiteralBytes: 1 << 20,
    streamBufferBytes: 4 << 20,
    maxNestingDepth: 256,
    routeCheckMs: 1000,
    maxConnections: 5000,
    maxConnectionsPerAddress: 200,
  },
  lmtp: {
    host: '127.0.0.1',
    port: 2424,
    maxMessageBytes: 64 * 1024 * 1024,
    maxClients: 100,
    maxClientsPerAddress: 50,
    idleTimeoutMs: 60_000,
  },
  migrate: {
    concurrency: 4,
    connectionsPerHost: 8,
    chunkMessages: 250,
    chunkBytes: 32 << 20,
    prefetchChunks: 2,
    largeMessageBytes: 8 << 20,
    leaseMs: 120_000,
    altChar: '_',
  },
  tls: {},
  proxy: { enabled: true, timeoutMs: 10_000 },
  auth: {
    plaintextAuth: 'loopback',
    throttle: { ...DEFAULT_AUTH_THROTTLE },
  },
  log: { level: 'info' },
  serverName: 'rmb',
  workers: 1,
  shutdownGraceMs: 30_000,
  metrics: { port: null, host: '127.0.0.1' },
};

/** A configuration that cannot be used; the message is one line naming the setting. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Dict = { [k: string]: unknown };

function merge(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object')
      out[k] = merge(base[k] as Dict, v as Dict);
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
    keys.slice(0, -1).forEach((k) => {
      cur = (cur[k] ??= {}) as Dict;
    });
    cur[keys[keys.length - 1]] = coerce(value);
  }
  return out;
}

/** camelCase of an environment variable's part ("MAX_LINE_BYTES" -> "maxLineBytes"). */
const camel = (p: string) => p.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The configuration settings among the environment: `RMB_<SECTION>__<KEY>` (double underscore =
 * nesting, e.g. RMB_IMAP__PORT=1143) and `RMB_<TOP_LEVEL_KEY>` for the top-level settings
 * (RMB_DATA_DIR). Other RMB_* variables (RMB_CEPH_CONF for the test suites, ...) are not settings.
 */
function fromEnv(env: NodeJS.ProcessEnv): [string, string][] {
  const top = new Set(Object.keys(CONFIG.shape));
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('RMB_') || v === undefined) continue;
    const path = k.slice(4).split('__').map(camel);
    if (path.length > 1 || top.has(path[0])) out.push([path.join('.'), v]);
  }
  return out;
}

/** One line naming the first problem zod found. */
function describe(e: z.ZodError): string {
  const i = e.issues[0];
  const at = i.path.join('.');
  if (i.code === 'unrecognized_keys') return `unknown setting ${i.keys.map((k) => (at ? `${at}.${k}` : k)).join(', ')}`;
  return `${at || '(config)'}: ${i.message}`;
}

/**
 * Load the configuration. `file` is a YAML path (optional); env RMB_IMAP__PORT=1143 style
 * variables (double underscore = nesting) and `sets` ("imap.port=1143") override it. Fills in
 * `auth.passwdFile` and makes `dataDir` absolute. Throws ConfigError naming the setting (unknown
 * key, wrong type or value, unreadable file).
 */
export function loadConfig(file?: string, sets: string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  let cfg = DEFAULTS as unknown as Dict;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = YAML.parse(text);
    } catch (e) {
      throw new ConfigError(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed)))
      throw new ConfigError(`${file}: not a mapping of settings`);
    cfg = merge(cfg, (parsed ?? {}) as Dict);
  }
  cfg = merge(cfg, overridesFrom(fromEnv(env)));
  cfg = merge(
    cfg,
    overridesFrom(
      sets.map((s): [string, string] => {
        const i = s.indexOf('=');
        if (i < 0) throw new ConfigError(`--set needs key=value: ${s}`);
        return [s.slice(0, i), s.slice(i + 1)];
      }),
    ),
  );
  const dataDir = typeof cfg.dataDir === 'string' ? resolve(cfg.dataDir) : cfg.dataDir;
  const auth = (cfg.auth ?? {}) as Dict;
  cfg = {
    ...cfg,
    dataDir,
    auth: {
      ...auth,
      passwdFile: auth.passwdFile ?? (typeof dataDir === 'string' ? join(dataDir, 'passwd') : undefined),
    },
  };
  const r = CONFIG.safeParse(cfg);
  if (!r.success) throw new ConfigError(describe(r.error));
  return r.data;
}
