/**
 * `rmb serve`: open the store, start the IMAP (plain + STARTTLS), IMAPS and LMTP listeners.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo, Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { createSecureContext, type SecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import pino from 'pino';
import { connect, InstrumentedCluster, type Cluster, type OpObserver } from '@rmb/rados';
import { MailStore, type Logger } from '@rmb/librmb';
import { AuthThrottle, createImapServer, isLoopback, type ImapServer } from '@rmb/imap';
import { createLmtpServer } from '@rmb/lmtp';
import { resolveSecret } from '@rmb/migrate';
import type { Config } from './config.js';
import { PasswdFile } from './passwd.js';
import { Metrics, processSource, serveMetrics } from './metrics.js';
import { startRegistry } from './sessions.js';

/** A running rmb: its listeners' bound ports and a stop function. */
export interface Running {
  ports: { imap: number; imaps: number | null; lmtp: number | null; metrics: number | null };
  stop(): Promise<void>;
  /**
   * Reload without a restart (SIGHUP): the passwd file, the TLS certificate (for new
   * connections), and the settings that apply live (imap.* limits, auth.*, log.level). Sessions
   * keep running. Resolves with the changed settings that need a restart (ports, store, ...).
   * Throws when the new certificate cannot be read (the old one stays).
   */
  reload(next: Config): Promise<string[]>;
}

/** Top-level settings a reload applies (the rest needs a restart). */
const LIVE = new Set(['imap', 'auth', 'log', 'tls']);
/** imap.* settings bound to a listener (need a restart). */
const IMAP_BOUND = ['port', 'tlsPort', 'host'] as const;

/** Load or create (self-signed, 2048-bit RSA) the TLS certificate. */
async function tlsContext(cfg: Config): Promise<SecureContext> {
  let cert = cfg.tls.cert,
    key = cfg.tls.key;
  if (!cert || !key) {
    const dir = join(cfg.dataDir, 'tls');
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    if (!existsSync(cert) || !existsSync(key)) {
      mkdirSync(dir, { recursive: true });
      const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
        keySize: 2048,
        algorithm: 'sha256',
        days: 825,
      } as never);
      writeFileSync(key, pems.private, { mode: 0o600 });
      writeFileSync(cert, pems.cert);
    }
  }
  return createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/**
 * V8's full garbage collection, made callable at run time (the same as node --expose-gc), for
 * streamed large mails (SessionEnv.collectGarbage). Undefined if the runtime refuses.
 */
function garbageCollector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

/** Connect to the configured store. Throws an Error naming the backend and what failed. */
async function openCluster(cfg: Config): Promise<Cluster> {
  const s = cfg.store;
  try {
    switch (s.backend) {
      case 'memory':
        return await connect({ backend: 'memory' });
      case 'librados':
        return await connect({
          backend: 'librados',
          conf: s.ceph.conf,
          client: s.ceph.client,
          keyring: s.ceph.keyring,
          opTimeoutMs: s.ceph.opTimeoutMs,
          fullCheckIntervalMs: s.ceph.fullCheckIntervalMs,
        });
      default:
        return await connect({ backend: 'embedded', path: s.path ?? join(cfg.dataDir, 'store') });
    }
  } catch (e) {
    throw new Error(`store.backend ${s.backend}: ${(e as Error).message}`);
  }
}

/**
 * Open the configured cluster and the mail store on it with the configured options, and check it
 * (as `serve` does; the admin CLI uses it too). Throws an Error naming the backend and pool.
 */
export async function openStore(
  cfg: Config,
  log: Logger,
  observer?: OpObserver,
): Promise<{ cluster: Cluster; store: MailStore }> {
  const inner = await openCluster(cfg);
  const cluster = observer ? new InstrumentedCluster(inner, observer) : inner;
  let store: MailStore;
  try {
    store = await MailStore.open(cluster, {
      pool: cfg.store.pool,
      namespace: String(cfg.store.namespace),
      log,
      stripe: {
        stripeBytes: cfg.store.stripeBytes,
        writeBytes: cfg.store.writeBytes,
        streamWriteBytes: cfg.store.streamWriteBytes,
      },
      expungeGraceMs: Number(cfg.store.expungeGraceMs),
      userShards: cfg.store.userShards,
      maxMailboxes: cfg.store.maxMailboxes,
      indexCacheMessages: cfg.store.indexCacheMessages,
      indexShardEntries: cfg.store.indexShardEntries,
      changeLogRecords: cfg.store.changeLogRecords,
      quota: { storageBytes: Number(cfg.quota.storageBytes), messages: Number(cfg.quota.messages) },
      metadata: { maxEntryBytes: Number(cfg.metadata.maxEntryBytes), maxEntries: Number(cfg.metadata.maxEntries) },
    });
    await store.check();
  } catch (e) {
    await cluster.close().catch(() => undefined);
    throw new Error(`store check failed (${cfg.store.backend}, pool ${cfg.store.pool}): ${(e as Error).message}`);
  }
  return { cluster, store };
}

/**
 * What must exist once before several worker processes start (workers.ts): the data directory,
 * the TLS certificate (generated when none is configured) and the store's root objects. Throws
 * when the store cannot be opened.
 */
export async function prepare(cfg: Config, log = pino({ level: cfg.log.level })): Promise<void> {
  mkdirSync(cfg.dataDir, { recursive: true });
  await tlsContext(cfg);
  const { cluster } = await openStore(cfg, log);
  await cluster.close();
}

/**
 * Start every listener of `cfg`. `worker`: a worker process of runPrimary (its metrics are served
 * by the primary). Throws when the store cannot be opened or a port is taken.
 */
export async function serve(cfg: Config, log = pino({ level: cfg.log.level }), worker = false): Promise<Running> {
  mkdirSync(cfg.dataDir, { recursive: true });
  const servers: ImapServer[] = [];
  const metrics =
    cfg.metrics.port !== null
      ? new Metrics(() => {
          const all: Record<string, number> = {};
          for (const s of servers) for (const [k, n] of Object.entries(s.sessionStates())) all[k] = (all[k] ?? 0) + n;
          return all;
        })
      : undefined;
  const { cluster, store } = await openStore(cfg, log, metrics?.rados);
  const passwd = new PasswdFile(cfg.auth.passwdFile, log);
  const tls = await tlsContext(cfg);
  /** The settings in force (replaced by a reload). */
  let live = cfg;
  if (!cfg.proxy.masterUser !== !cfg.proxy.masterSecret)
    throw new Error('config: proxy.masterUser and proxy.masterSecret go together');
  const env = {
    store,
    authenticate: (u: string, p: string) => passwd.authenticate(u, p),
    authThrottle: new AuthThrottle({ ...cfg.auth.throttle }),
    observe: metrics?.imap,
    scramCredentials: (u: string) => passwd.scram(u),
    tlsContext: tls,
    plaintextAllowed: (addr: string) =>
      live.auth.plaintextAuth === 'always' || (live.auth.plaintextAuth === 'loopback' && isLoopback(addr)),
    limits: { ...cfg.imap },
    log,
    serverName: cfg.serverName,
    collectGarbage: garbageCollector(),
    proxy: cfg.proxy.enabled
      ? {
          timeoutMs: cfg.proxy.timeoutMs,
          ...(cfg.proxy.masterUser && cfg.proxy.masterSecret
            ? { master: { user: cfg.proxy.masterUser, password: resolveSecret(cfg.proxy.masterSecret) } }
            : {}),
        }
      : undefined,
  };
  const imap = createImapServer(env, false);
  servers.push(imap);
  const imapPort = await listen(imap, cfg.imap.port, cfg.imap.host);
  let imapsPort: number | null = null;
  if (cfg.imap.tlsPort !== null) {
    const imaps = createImapServer(env, true);
    servers.push(imaps);
    imapsPort = await listen(imaps, cfg.imap.tlsPort, cfg.imap.host);
  }
  let lmtpPort: number | null = null;
  let lmtp: ReturnType<typeof createLmtpServer> | undefined;
  if (cfg.lmtp.port !== null) {
    lmtp = createLmtpServer({
      store,
      lookupUser: async (addr) => (await passwd.lookup(addr)) ?? passwd.lookup(addr.split('@')[0]),
      maxMessageBytes: cfg.lmtp.maxMessageBytes,
      maxClients: cfg.lmtp.maxClients,
      maxClientsPerAddress: cfg.lmtp.maxClientsPerAddress,
      idleTimeoutMs: cfg.lmtp.idleTimeoutMs,
      serverName: cfg.serverName,
      log,
      observe: metrics?.lmtp,
    });
    lmtpPort = await listen(lmtp.server as unknown as Server, cfg.lmtp.port, cfg.lmtp.host);
  }
  let metricsServer: HttpServer | undefined;
  if (metrics && worker) metrics.forPrimary();
  else if (metrics) {
    const notReady = async (): Promise<string | null> => {
      try {
        await store.check();
      } catch (e) {
        return `store: ${(e as Error).message}`;
      }
      return store.root.full ? 'store full' : null;
    };
    metricsServer = (await serveMetrics(processSource(metrics, notReady), cfg.metrics.port!, cfg.metrics.host)).server;
  }
  const metricsPort = metricsServer ? (metricsServer.address() as AddressInfo).port : null;
  const stopRegistry = await startRegistry(
    store.root,
    {
      list: () => servers.flatMap((s) => s.sessionList()),
      kick: (user) => servers.reduce((n, s) => n + s.kickUser(user, 'Disconnected by the administrator.'), 0),
    },
    log,
  );
  log.info(
    { imap: imapPort, imaps: imapsPort, lmtp: lmtpPort, metrics: metricsPort, backend: cluster.backend },
    'rmb started',
  );
  return {
    ports: { imap: imapPort, imaps: imapsPort, lmtp: lmtpPort, metrics: metricsPort },
    /**
     * Graceful stop (SIGTERM): no new connections; commands and deliveries in flight finish (at
     * most shutdownGraceMs), IMAP sessions get `* BYE`, LMTP connections `421 4.3.2`; then the
     * store is closed.
     */
    async stop() {
      const grace = Number(cfg.shutdownGraceMs);
      log.info({ graceMs: grace }, 'rmb stopping');
      await Promise.all([...servers.map((s) => s.shutdown(grace)), lmtp?.shutdown(grace)]);
      await stopRegistry();
      metricsServer?.close();
      passwd.close();
      // the background writes after commits (references, reserves, compactions) finish first
      await store.settle();
      await cluster.close();
      log.info('rmb stopped');
    },
    async reload(next: Config): Promise<string[]> {
      const restart = Object.keys(next).filter(
        (k) => !LIVE.has(k) && JSON.stringify(next[k as keyof Config]) !== JSON.stringify(live[k as keyof Config]),
      );
      for (const k of IMAP_BOUND) if (next.imap[k] !== live.imap[k]) restart.push(`imap.${k}`);
      if (next.auth.passwdFile !== live.auth.passwdFile) restart.push('auth.passwdFile');
      env.tlsContext = await tlsContext(next);
      Object.assign(env.limits, next.imap);
      Object.assign(env.authThrottle.limits, next.auth.throttle);
      log.level = next.log.level;
      passwd.reload();
      live = next;
      log.info({ restart }, 'configuration reloaded');
      return restart;
    },
  };
}
