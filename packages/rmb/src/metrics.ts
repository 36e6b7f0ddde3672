/**
 * Metrics and health of `rmb serve` (issue 15 item 5): a Prometheus endpoint on a listener of its
 * own (`metrics.port`; off unless set, on 127.0.0.1 unless `metrics.host` says otherwise), with
 *   rmb_imap_sessions{state}                    sessions open, by state
 *   rmb_imap_commands_total{command,result}     commands by name and tagged result (OK, NO, BAD)
 *   rmb_imap_command_seconds{command}           command latency
 *   rmb_lmtp_deliveries_total{result}           LMTP recipients by reply (ok, temporary, permanent)
 *   rmb_lmtp_delivery_seconds                   from the end of DATA to the recipient's reply
 *   rmb_rados_ops_total{op}, rmb_rados_op_seconds{op}   RADOS operations by IoCtx method
 *   rmb_rados_errors_total{errno}               failed RADOS operations (ECANCELED: a lost omap_cmp race)
 *   rmb_index_commits_total, rmb_index_commit_retries_total   group commits, races lost to other processes
 *   rmb_rados_objects_written_total, rmb_rados_bytes_written_total
 * plus prom-client's process metrics; `/health` (the process answers) and `/ready` (the store
 * answers and is not full: 200, else 503 with the reason). With worker processes the primary
 * serves the sum over its workers (prom-client's AggregatorRegistry) and is ready while every
 * worker is.
 */
import { createServer, type Server } from 'node:http';
import client from 'prom-client';
import { laneStats } from '@rmb/librmb';
import type { OpObserver } from '@rmb/rados';

/** The metrics of one process. */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly commands: client.Counter<'command' | 'result'>;
  private readonly commandSeconds: client.Histogram<'command'>;
  private readonly deliveries: client.Counter<'result'>;
  private readonly deliverySeconds: client.Histogram;
  private readonly ops: client.Counter<'op'>;
  private readonly opSeconds: client.Histogram<'op'>;
  private readonly errors: client.Counter<'errno'>;
  private readonly objects: client.Counter;
  private readonly bytes: client.Counter;

  /** `sessionStates`: the IMAP sessions open now by state (every IMAP listener of the process). */
  constructor(sessionStates: () => Record<string, number>) {
    const r = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: 'rmb_imap_sessions',
      help: 'IMAP sessions open, by state',
      labelNames: ['state'],
      registers: r,
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(sessionStates())) this.set({ state }, n);
      },
    });
    this.commands = new client.Counter({
      name: 'rmb_imap_commands_total',
      help: 'IMAP commands by name and tagged result',
      labelNames: ['command', 'result'],
      registers: r,
    });
    this.commandSeconds = new client.Histogram({
      name: 'rmb_imap_command_seconds',
      help: 'IMAP command latency, seconds',
      labelNames: ['command'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: r,
    });
    this.deliveries = new client.Counter({
      name: 'rmb_lmtp_deliveries_total',
      help: 'LMTP recipients by reply after DATA (ok 2xx, temporary 4xx, permanent 5xx)',
      labelNames: ['result'],
      registers: r,
    });
    this.deliverySeconds = new client.Histogram({
      name: 'rmb_lmtp_delivery_seconds',
      help: 'LMTP delivery latency from the end of DATA to the reply, seconds',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: r,
    });
    this.ops = new client.Counter({
      name: 'rmb_rados_ops_total',
      help: 'RADOS operations by IoCtx method',
      labelNames: ['op'],
      registers: r,
    });
    this.opSeconds = new client.Histogram({
      name: 'rmb_rados_op_seconds',
      help: 'RADOS operation latency by IoCtx method, seconds',
      labelNames: ['op'],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
      registers: r,
    });
    this.errors = new client.Counter({
      name: 'rmb_rados_errors_total',
      help: 'failed RADOS operations by errno (ECANCELED: a guard such as omap_cmp lost a race)',
      labelNames: ['errno'],
      registers: r,
    });
    this.objects = new client.Counter({
      name: 'rmb_rados_objects_written_total',
      help: 'writes that carried data',
      registers: r,
    });
    this.bytes = new client.Counter({
      name: 'rmb_rados_bytes_written_total',
      help: 'data bytes written',
      registers: r,
    });
    const seen = { commits: 0, retries: 0 };
    const delta = (key: 'commits' | 'retries') => {
      const d = laneStats[key] - seen[key];
      seen[key] = laneStats[key];
      return d;
    };
    new client.Counter({
      name: 'rmb_index_commits_total',
      help: 'index commits (group commits of one or more changes of one mailbox)',
      registers: r,
      collect() {
        this.inc(delta('commits'));
      },
    });
    new client.Counter({
      name: 'rmb_index_commit_retries_total',
      help: 'index commits planned again after losing the omap_cmp race to another process or node',
      registers: r,
      collect() {
        this.inc(delta('retries'));
      },
    });
  }

  /** For SessionEnv.observe. */
  readonly imap = {
    command: (name: string, result: string, seconds: number): void => {
      this.commands.inc({ command: name, result });
      this.commandSeconds.observe({ command: name }, seconds);
    },
  };

  /** For LmtpOptions.observe. */
  readonly lmtp = (result: 'ok' | 'temporary' | 'permanent', seconds: number): void => {
    this.deliveries.inc({ result });
    this.deliverySeconds.observe(seconds);
  };

  /** For InstrumentedCluster. */
  readonly rados: OpObserver = {
    op: (method, seconds, errno) => {
      this.ops.inc({ op: method });
      this.opSeconds.observe({ op: method }, seconds);
      if (errno) this.errors.inc({ errno });
    },
    written: (objects, bytes) => {
      this.objects.inc(objects);
      this.bytes.inc(bytes);
    },
  };

  /** Make this process's registry the one a primary's AggregatorRegistry collects (worker processes). */
  forPrimary(): void {
    client.AggregatorRegistry.setRegistries([this.registry]);
  }
}

/** What the endpoint serves. */
export interface MetricsSource {
  /** The exposition text and its content type. */
  metrics(): Promise<{ text: string; type: string }>;
  /** Null when ready, else why not. */
  notReady(): Promise<string | null>;
}

/** A source of the metrics of one process. */
export function processSource(m: Metrics, notReady: () => Promise<string | null>): MetricsSource {
  return {
    metrics: async () => ({ text: await m.registry.metrics(), type: m.registry.contentType }),
    notReady,
  };
}

/** A source summing the workers of this primary process (node cluster). */
export function clusterSource(notReady: () => Promise<string | null>): MetricsSource {
  const agg = new client.AggregatorRegistry();
  return {
    metrics: async () => ({ text: await (await agg.clusterMetrics()).toString(), type: agg.contentType }),
    notReady,
  };
}

/** Serve `/metrics`, `/health` and `/ready` on `host`:`port` (0: any free port); resolves with the server and port. */
export async function serveMetrics(
  src: MetricsSource,
  port: number,
  host: string,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return answer(405, 'text/plain', 'GET only\n');
    if (path === '/health') return answer(200, 'text/plain', 'ok\n');
    if (path === '/ready')
      return void src.notReady().then(
        (why) => (why ? answer(503, 'text/plain', `not ready: ${why}\n`) : answer(200, 'text/plain', 'ready\n')),
        (e: unknown) => answer(503, 'text/plain', `not ready: ${(e as Error).message}\n`),
      );
    if (path === '/metrics')
      return void src.metrics().then(
        (m) => answer(200, m.type, m.text),
        (e: unknown) => answer(500, 'text/plain', `${(e as Error).message}\n`),
      );
    answer(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
