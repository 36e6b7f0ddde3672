/**
 * The librados backend: the contract over a real Ceph cluster through rmb's own Node-API addon
 * (native/rados_addon.cc, built by `npm ci` when librados-dev is installed). Every operation is
 * one asynchronous librados call (rados_aio_*), completed off the event loop.
 * Reference: https://docs.ceph.com/en/latest/rados/api/librados/
 */
import { createRequire } from 'node:module';
import {
  ALL_NAMESPACES,
  type Cluster,
  type IoCtx,
  type NotifyEvent,
  type NotifyResult,
  type ObjectListPage,
  type ObjectStat,
  type OmapListOptions,
  type OmapPage,
  type OpStats,
  ReadOp,
  type ReadResult,
  type ReadStep,
  type WatchHandle,
  IoCtxShorthands,
  WriteOp,
  type WriteStep,
} from './contract.js';
import { InvalidArgument, NoData, NoSpace, RadosError, errorFromErrno } from './errors.js';

/** How to reach a Ceph cluster. */
export interface LibradosConfig {
  backend: 'librados';
  /** Path of ceph.conf; default: librados' search ($CEPH_CONF, /etc/ceph/ceph.conf, ...). */
  conf?: string;
  /** Ceph client name, e.g. "client.admin" (default) or "client.rmb". */
  client?: string;
  /** Keyring path; default: from ceph.conf. */
  keyring?: string;
  /** Timeout of every OSD and monitor operation, in ms (default 10000). */
  opTimeoutMs?: number;
  /** Seconds a watch survives a lost connection before the OSD drops it (default 30). */
  watchTimeoutSec?: number;
  /** How often to ask the monitors which pools are flagged full, in ms (default 5000; 0: never). */
  fullCheckIntervalMs?: number;
}

/** LIBRADOS_OPERATION_FULL_TRY: on a full cluster, fail writes at once with ENOSPC (instead of
 * blocking) and let deletes through, so EXPUNGE can free space. */
const FULL_TRY = 64;

/** How long an unfinished object listing stays open between pages, in ms. */
const LIST_IDLE_MS = 5 * 60_000;

interface NativeClient {
  connect(o: { name: string; conf?: string; sets: [string, string][] }): Promise<void>;
  openPool(name: string): Promise<number>;
  writeOp(pool: number, ns: string, oid: string, steps: unknown[], flags: number): Promise<number>;
  readOp(
    pool: number,
    ns: string,
    oid: string,
    steps: unknown[],
    flags: number,
  ): Promise<{ version: number; results: unknown[] }>;
  listOpen(pool: number, ns: string): object;
  listNext(handle: object, max: number): Promise<{ objects: { namespace: string; oid: string }[]; end: boolean }>;
  listClose(handle: object): void;
  watch(
    pool: number,
    ns: string,
    oid: string,
    cb: (err: number | null, payload?: Buffer, notifier?: string) => void,
    timeoutSec: number,
  ): Promise<object>;
  unwatch(handle: object): Promise<void>;
  notify(pool: number, ns: string, oid: string, payload: Buffer, timeoutMs: number): Promise<NotifyResult>;
  monCommand(json: string): Promise<string>;
  shutdown(): void;
}
interface NativeModule {
  RadosClient: new () => NativeClient;
  ALL_NSPACES: string;
}

let addon: NativeModule | undefined;
/**
 * Load the addon. Throws an Error with one line saying what to install when it is missing
 * (no librados on the machine at `npm ci` time) or cannot load.
 */
export function loadAddon(): NativeModule {
  if (addon) return addon;
  try {
    // RMB_RADOS_ADDON: another build of the addon (and how tests simulate a machine without one)
    addon = createRequire(import.meta.url)(
      process.env.RMB_RADOS_ADDON ?? '../../build/Release/rados_addon.node',
    ) as NativeModule;
    return addon;
  } catch (e) {
    throw new Error(
      'the librados backend is not available on this machine ' +
        `(${(e as Error).message.split('\n')[0]}): install Debian's librados-dev, g++ and make, ` +
        `then run \`npm rebuild @rmb/rados\``,
    );
  }
}

/** Convert an addon rejection (Error with `errno`) into the contract's typed error. */
function typed(e: unknown): Error {
  const errno = (e as { errno?: unknown }).errno;
  if (typeof errno === 'number' && !(e instanceof RadosError)) return errorFromErrno(errno, (e as Error).message);
  return e as Error;
}

class Stats implements OpStats {
  reads = 0;
  writes = 0;
  reset(): void {
    this.reads = 0;
    this.writes = 0;
  }
}

/** One shared RADOS watch per object, fanned out to the contract's watchers. */
interface SharedWatch {
  handle?: object;
  ready: Promise<void>;
  callbacks: Set<(ev: NotifyEvent) => void>;
}

/**
 * A connection to a Ceph cluster (one `rados_t` per process, as librados recommends).
 * Open with `LibradosCluster.connect(cfg)`.
 */
export class LibradosCluster implements Cluster {
  readonly backend = 'librados';
  readonly stats = new Stats();
  private readonly pools = new Map<string, Promise<number>>();
  readonly watches = new Map<string, SharedWatch>();
  /** Open listings by cursor id; closed at their end, on close(), or after LIST_IDLE_MS idle. */
  readonly listings = new Map<string, { handle: object; timer?: NodeJS.Timeout }>();
  private nextListing = 1;

  /** A listing handle for `cursor` (or a new one); the id to pass back as the next cursor. */
  listing(pool: number, ns: string, cursor?: string): { id: string; handle: object } {
    if (cursor) {
      const l = this.listings.get(cursor);
      if (!l)
        throw new InvalidArgument(
          `listing cursor ${cursor} expired or unknown (cursors live ${LIST_IDLE_MS / 1000} s in this process)`,
        );
      clearTimeout(l.timer);
      return { id: cursor, handle: l.handle };
    }
    const id = `L${this.nextListing++}`;
    const handle = this.native.listOpen(pool, ns);
    this.listings.set(id, { handle });
    return { id, handle };
  }
  /** Keep listing `id` for another page, or close it. */
  listingDone(id: string, end: boolean): void {
    const l = this.listings.get(id);
    if (!l) return;
    if (end) {
      this.listings.delete(id);
      this.native.listClose(l.handle);
      return;
    }
    l.timer = setTimeout(() => this.listingDone(id, true), LIST_IDLE_MS);
    l.timer.unref();
  }
  /** Native calls in flight: close() waits for every one before shutting librados down. */
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  /** Pools the monitors flag full (FLAG_FULL or FLAG_FULL_QUOTA), as of the last check. */
  readonly fullPools = new Set<string>();
  private fullTimer?: NodeJS.Timeout;

  private constructor(
    readonly native: NativeClient,
    readonly cfg: LibradosConfig,
  ) {}

  /**
   * Ask the monitors which pools are full (`osd pool ls detail`). Writes marked
   * refuseWhenFull() to such a pool fail at once with ENOSPC: without this a write to a full
   * pool waits in librados until the op timeout. Errors are ignored (the next check retries).
   */
  async checkFull(): Promise<void> {
    if (this.closed) return;
    try {
      const out = await this.hold(
        this.native.monCommand(JSON.stringify({ prefix: 'osd pool ls', detail: 'detail', format: 'json' })),
      );
      const pools = JSON.parse(out) as { pool_name: string; flags_names: string }[];
      this.fullPools.clear();
      for (const p of pools)
        if (p.flags_names.split(',').some((f) => f === 'full' || f === 'full_quota')) this.fullPools.add(p.pool_name);
    } catch {
      /* monitors unreachable: keep the last state */
    }
  }

  private scheduleFullCheck(): void {
    const ms = this.cfg.fullCheckIntervalMs ?? 5000;
    if (!ms || this.closed) return;
    this.fullTimer = setTimeout(() => {
      void this.checkFull().finally(() => this.scheduleFullCheck());
    }, ms);
    this.fullTimer.unref();
  }

  /**
   * Connect: read ceph.conf, authenticate as `client`, set the op timeouts.
   * Throws an Error naming what failed (addon missing, conf unreadable, cluster unreachable).
   */
  static async connect(cfg: LibradosConfig): Promise<LibradosCluster> {
    const mod = loadAddon();
    const native = new mod.RadosClient();
    const secs = String(Math.max(1, Math.ceil((cfg.opTimeoutMs ?? 10_000) / 1000)));
    const sets: [string, string][] = [
      ['rados_osd_op_timeout', secs],
      ['rados_mon_op_timeout', secs],
      ['client_mount_timeout', secs],
    ];
    if (cfg.keyring) sets.push(['keyring', cfg.keyring]);
    try {
      await native.connect({ name: cfg.client ?? 'client.admin', conf: cfg.conf, sets });
    } catch (e) {
      native.shutdown();
      throw new Error(
        `cannot connect to Ceph (conf ${cfg.conf ?? process.env.CEPH_CONF ?? 'default search'}, ` +
          `client ${cfg.client ?? 'client.admin'}): ${(e as Error).message}`,
      );
    }
    const cluster = new LibradosCluster(native, cfg);
    if ((cfg.fullCheckIntervalMs ?? 5000) > 0) {
      await cluster.checkFull();
      cluster.scheduleFullCheck();
    }
    return cluster;
  }

  /** The addon's handle of `pool`; throws ObjectNotFound (ENOENT) when the pool does not exist. */
  poolHandle(pool: string): Promise<number> {
    let p = this.pools.get(pool);
    if (!p) {
      p = this.native.openPool(pool).catch((e) => {
        this.pools.delete(pool);
        throw typed(e);
      });
      this.pools.set(pool, p);
    }
    return p;
  }

  async ioCtx(pool: string, ns = ''): Promise<IoCtx> {
    if (!pool) throw new InvalidArgument('empty pool name');
    await this.poolHandle(pool);
    return new LibradosIoCtx(this, pool, ns);
  }

  /** Run `fn` counted as in flight, so close() can wait for it; errors become typed. */
  async track<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new InvalidArgument('cluster connection closed');
    try {
      return await this.hold(fn());
    } catch (e) {
      throw typed(e);
    }
  }

  /** Count `p` as in flight until it settles. */
  private hold<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p),
    );
    return p;
  }

  /** Remove a native watch (errors ignored: the watch may already be gone). */
  unwatchNative(handle: object): Promise<void> {
    return this.hold(this.native.unwatch(handle)).catch(() => undefined);
  }

  private async drain(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.fullTimer);
    await this.drain();
    for (const w of [...this.watches.values()]) {
      await w.ready.catch(() => undefined);
      if (w.handle) await this.unwatchNative(w.handle);
    }
    this.watches.clear();
    await this.drain();
    for (const id of [...this.listings.keys()]) this.listingDone(id, true);
    this.native.shutdown();
  }
}

/** Contract steps to the addon's plain objects (omap maps as parallel key/value arrays). */
function nativeWriteSteps(steps: WriteStep[]): unknown[] {
  return steps.map((s) => {
    if (s.op === 'omapSet') return { op: 'omapSet', keys: [...s.entries.keys()], values: [...s.entries.values()] };
    if (s.op === 'omapCmp' && !['eq', 'lt', 'gt'].includes(s.cmp)) {
      throw new InvalidArgument(`omap_cmp supports eq, lt and gt, not ${s.cmp}`);
    }
    return s;
  });
}
function nativeReadSteps(steps: ReadStep[]): unknown[] {
  return steps.map((s) => {
    if (s.op === 'omapList') {
      return {
        op: 'omapList',
        startAfter: s.opts.startAfter ?? '',
        prefix: s.opts.prefix ?? '',
        max: s.opts.max ?? 1000,
      };
    }
    if (s.op === 'omapCmp' && !['eq', 'lt', 'gt'].includes(s.cmp)) {
      throw new InvalidArgument(`omap_cmp supports eq, lt and gt, not ${s.cmp}`);
    }
    return s;
  });
}
function pairsToMap(pairs: unknown): Map<string, Buffer> {
  return new Map(pairs as [string, Buffer][]);
}

class LibradosIoCtx extends IoCtxShorthands implements IoCtx {
  constructor(
    private readonly c: LibradosCluster,
    readonly pool: string,
    readonly namespace: string,
  ) {
    super();
  }

  withNamespace(ns: string): IoCtx {
    return new LibradosIoCtx(this.c, this.pool, ns);
  }

  get full(): boolean {
    return this.c.fullPools.has(this.pool);
  }

  private check(oid: string): void {
    if (!oid) throw new InvalidArgument('empty object name');
  }

  async operate(oid: string, op: WriteOp): Promise<void> {
    this.check(oid);
    const steps = nativeWriteSteps(op.steps);
    if (op.addsData && this.c.fullPools.has(this.pool))
      throw new NoSpace(`pool ${this.pool} is full (new data refused)`);
    this.c.stats.writes++;
    const pool = await this.c.poolHandle(this.pool);
    await this.c.track(() => this.c.native.writeOp(pool, this.namespace, oid, steps, FULL_TRY));
  }

  async operateRead(oid: string, op: ReadOp): Promise<ReadResult[]> {
    this.check(oid);
    const steps = nativeReadSteps(op.steps);
    this.c.stats.reads++;
    const pool = await this.c.poolHandle(this.pool);
    const { results } = await this.c.track(() => this.c.native.readOp(pool, this.namespace, oid, steps, 0));
    return op.steps.map((s, i): ReadResult => {
      const r = results[i];
      switch (s.op) {
        case 'stat':
          return r as ObjectStat;
        case 'read':
          return r as Buffer;
        case 'getXattrs':
        case 'omapGetByKeys':
          return pairsToMap(r);
        case 'omapList': {
          const page = r as { entries: unknown; more: boolean };
          return { entries: pairsToMap(page.entries), more: page.more } satisfies OmapPage;
        }
        default:
          return null;
      }
    });
  }

  async stat(oid: string): Promise<ObjectStat> {
    return (await this.operateRead(oid, new ReadOp().stat()))[0] as ObjectStat;
  }

  async read(oid: string, offset = 0, length?: number): Promise<Buffer> {
    if (length === undefined) {
      const st = await this.stat(oid);
      length = Math.max(0, st.size - offset);
    }
    return (await this.operateRead(oid, new ReadOp().read(offset, length)))[0] as Buffer;
  }

  async getXattr(oid: string, name: string): Promise<Buffer> {
    const v = (await this.getXattrs(oid)).get(name);
    if (!v) throw new NoData(`${this.namespace}/${oid} xattr ${name}`);
    return v;
  }
  async getXattrs(oid: string): Promise<Map<string, Buffer>> {
    return (await this.operateRead(oid, new ReadOp().getXattrs()))[0] as Map<string, Buffer>;
  }
  async omapGetByKeys(oid: string, keys: string[]): Promise<Map<string, Buffer>> {
    return (await this.operateRead(oid, new ReadOp().omapGetByKeys(keys)))[0] as Map<string, Buffer>;
  }
  async omapList(oid: string, opts: OmapListOptions = {}): Promise<OmapPage> {
    return (await this.operateRead(oid, new ReadOp().omapList(opts)))[0] as OmapPage;
  }

  /**
   * Objects of this namespace (or ALL_NAMESPACES). RADOS listing cursors cannot leave the C API,
   * so the cursor names a listing kept open in this process (for LIST_IDLE_MS between pages).
   * Objects created or removed during a listing may or may not be seen, as with any RADOS listing.
   */
  async list(cursor?: string, max = 1000): Promise<ObjectListPage> {
    this.c.stats.reads++;
    const pool = await this.c.poolHandle(this.pool);
    const ns = this.namespace === ALL_NAMESPACES ? '\u0001' : this.namespace;
    const { id, handle } = this.c.listing(pool, ns, cursor);
    let page;
    try {
      page = await this.c.track(() => this.c.native.listNext(handle, max));
    } catch (e) {
      this.c.listingDone(id, true);
      throw e;
    }
    this.c.listingDone(id, page.end);
    return { objects: page.objects, cursor: page.end ? undefined : id };
  }

  /**
   * Watch `oid`. One RADOS watch per object and process is shared by all watchers; when the
   * cluster reports the watch broken (e.g. the OSD was unreachable longer than the watch timeout)
   * it is re-established and every watcher gets an empty payload, meaning "something may have
   * changed, look again".
   */
  async watch(oid: string, onNotify: (ev: NotifyEvent) => void): Promise<WatchHandle> {
    this.check(oid);
    const key = `${this.pool}\0${this.namespace}\0${oid}`;
    let w = this.c.watches.get(key);
    if (!w) {
      const shared: SharedWatch = { callbacks: new Set(), ready: Promise.resolve() };
      shared.ready = this.establish(oid, shared, key);
      this.c.watches.set(key, shared);
      w = shared;
      try {
        await w.ready;
      } catch (e) {
        this.c.watches.delete(key);
        throw e;
      }
    } else await w.ready;
    const sw = w;
    sw.callbacks.add(onNotify);
    return {
      unwatch: async () => {
        sw.callbacks.delete(onNotify);
        if (sw.callbacks.size || this.c.watches.get(key) !== sw) return;
        this.c.watches.delete(key);
        await sw.ready.catch(() => undefined);
        if (sw.handle) await this.c.unwatchNative(sw.handle);
      },
    };
  }

  private async establish(oid: string, w: SharedWatch, key: string): Promise<void> {
    const pool = await this.c.poolHandle(this.pool);
    // a watch is a write to the OSD: on a full pool librados would hold it until the timeout
    if (this.c.fullPools.has(this.pool)) throw new NoSpace(`pool ${this.pool} is full (watch refused)`);
    this.c.stats.writes++;
    w.handle = await this.c.track(() =>
      this.c.native.watch(
        pool,
        this.namespace,
        oid,
        (err, payload, notifier) => {
          if (err === null) {
            for (const cb of w.callbacks) cb({ oid, payload: payload!, notifierId: notifier! });
            return;
          }
          void this.rewatch(oid, w, key);
        },
        this.c.cfg.watchTimeoutSec ?? 30,
      ),
    );
  }

  private async rewatch(oid: string, w: SharedWatch, key: string): Promise<void> {
    const old = w.handle;
    w.handle = undefined;
    if (old) await this.c.unwatchNative(old);
    for (let attempt = 0; this.c.watches.get(key) === w; attempt++) {
      try {
        w.ready = this.establish(oid, w, key);
        await w.ready;
        for (const cb of w.callbacks) cb({ oid, payload: Buffer.alloc(0), notifierId: '' });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  async notify(oid: string, payload: Buffer | string, timeoutMs = 5000): Promise<NotifyResult> {
    this.check(oid);
    this.c.stats.writes++;
    const pool = await this.c.poolHandle(this.pool);
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return this.c.track(() => this.c.native.notify(pool, this.namespace, oid, buf, timeoutMs));
  }
}
