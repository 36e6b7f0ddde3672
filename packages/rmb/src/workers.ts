/**
 * `rmb serve` on every core (issue 14): a primary process forks `workers` front-end processes with
 * node's `cluster`; they share the IMAP, IMAPS and LMTP listeners (the primary hands connections
 * out in turn). Front ends keep no state, so any worker serves any user; on the embedded store
 * every worker opens the same LMDB directory and their watch/notify reach each other over the
 * store's notify bus (@rmb/rados notify-bus.ts), as on Ceph.
 *
 * The primary prepares what must exist once before the workers race for it (the data directory,
 * the generated TLS certificate, the store's root objects), prints READY when every worker
 * listens, restarts a worker that dies, and on SIGTERM/SIGINT stops every worker gracefully
 * (each finishes its commands and deliveries in flight) before it exits. A worker whose primary is
 * gone (killed with SIGKILL) stops at once.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import type { Server as HttpServer } from 'node:http';
import { type Running, prepare, serve } from './serve.js';
import { clusterSource, serveMetrics } from './metrics.js';

/** Ports the workers listen on (the same in every worker). */
type Ports = Running['ports'];

/** Message from a worker to the primary. */
type WorkerMessage = { type: 'ready'; ports: Ports } | { type: 'failed'; error: string };

/**
 * Run the primary: fork `n` workers of this same command line, resolve with the ports once all
 * listen. Rejects when a worker fails to start. `onStop` is called once every worker has exited
 * after a stop signal.
 */
export async function runPrimary(
  cfg: Config,
  n: number,
): Promise<{ ports: Ports; stop(): Promise<void>; reload(next: Config): Promise<string[]> }> {
  await prepare(cfg);
  let stopping = false;
  let ports: Ports | undefined;
  const fork = (): Worker => {
    const w = cluster.fork({ RMB_WORKER: '1' });
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') ports ??= m.ports;
    });
    return w;
  };
  const started = await Promise.all(
    Array.from({ length: n }, () => {
      const w = fork();
      return new Promise<Worker>((resolve, reject) => {
        w.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve(w);
          if (m.type === 'failed') reject(new Error(m.error));
        });
        w.once('exit', (code) => reject(new Error(`worker exited with ${code} while starting`)));
      });
    }),
  );
  void started;
  // the primary serves the workers' metrics summed (metrics.ts); ready while every worker runs
  let metricsServer: HttpServer | undefined;
  if (cfg.metrics.port !== null) {
    const notReady = async () => {
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead()).length;
      return alive < n ? `${alive} of ${n} workers running` : null;
    };
    const m = await serveMetrics(clusterSource(notReady), cfg.metrics.port, cfg.metrics.host);
    metricsServer = m.server;
    ports = { ...ports!, metrics: m.port };
  }
  // a worker that dies is replaced, unless the server is stopping
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    process.stderr.write(`rmb: worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
    fork();
  });
  return {
    ports: ports!,
    /** SIGHUP is passed on: each worker reads the config again and reloads (runWorker). */
    async reload() {
      for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill('SIGHUP');
      return [];
    },
    async stop() {
      stopping = true;
      metricsServer?.close();
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      await Promise.all(
        all.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/**
 * A signal handler that runs `stop` once (later signals are ignored), then exits 0, or 1 with the
 * error on stderr when it failed.
 */
export function exitAfter(stop: () => Promise<void>): () => void {
  let stopping = false;
  return () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`rmb: stop failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
}

/** Whether this process is a worker forked by runPrimary. */
export const isWorker = (): boolean => cluster.isWorker && process.env.RMB_WORKER === '1';

/**
 * Run one worker: serve, tell the primary the ports, stop gracefully on SIGTERM, and at once
 * when the primary is gone. Never resolves while serving.
 */
export async function runWorker(cfg: Config, reread: () => Config): Promise<void> {
  let r: Running;
  try {
    r = await serve(cfg, undefined, true);
  } catch (e) {
    process.send?.({ type: 'failed', error: (e as Error).message } satisfies WorkerMessage);
    process.exit(1);
  }
  process.send?.({ type: 'ready', ports: r.ports } satisfies WorkerMessage);
  process.on(
    'SIGTERM',
    exitAfter(() => r.stop()),
  );
  process.on('SIGINT', () => undefined); // the primary decides; a terminal's ^C reaches every process
  process.on('SIGHUP', () => void reloadOn(r, reread));
  // the primary was killed: nobody hands out connections any more
  process.on('disconnect', () => process.exit(1));
}

/**
 * Reload `r` with the config `reread` gives (SIGHUP); a config that does not load, or a
 * certificate that does not read, leaves everything as it was. Errors and the settings that need
 * a restart go to stderr.
 */
export async function reloadOn(r: { reload(next: Config): Promise<string[]> }, reread: () => Config): Promise<void> {
  try {
    const restart = await r.reload(reread());
    if (restart.length) process.stderr.write(`rmb: reloaded; a restart is needed for: ${restart.join(', ')}\n`);
  } catch (e) {
    process.stderr.write(`rmb: reload failed, nothing changed: ${(e as Error).message}\n`);
  }
}
