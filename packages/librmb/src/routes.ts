/**
 * Where each user lives during a migration (issue 13): `source` (still on the old server: its
 * URI and how to log in there), `frozen` (being moved now: logins and deliveries wait) or
 * `local` (in rmb). Kept in the store, in object `routes` of the store's root namespace, so every
 * front end sees the same route:
 *
 *   omap <user> -> Route JSON, `*default` -> the route of users with none (a whole domain moving),
 *   h:<user>:<ms 15 digits>:<seq> -> a history record (from, to, reason)
 *
 * A user with no route and no default is `local` (rmb as it was before migrations). Reads are
 * cached for `cacheMs`; every change notifies the object's watchers, which drop their cache at
 * once (Ceph watch/notify reaches every node; where the backend cannot watch across processes,
 * the cache time bounds how long a flip takes to be seen).
 */
import { type IoCtx, WriteOp, isErrno } from '@rmb/rados';
import { fromStoreError } from './errors.js';

/** How a front end reaches a user's old server. */
export interface RouteSource {
  /** imap://host[:port] or imaps://host[:port][?insecure] of the old server. */
  imap: string;
  /** lmtp://host:port or smtp://host:port the old server accepts the user's mail on. */
  delivery?: string;
  /** The user's login name there, when it differs from the rmb user name (a user's own route only). */
  user?: string;
}

/** A user's route. */
export interface Route {
  state: 'source' | 'frozen' | 'local';
  /** The old server (required for `source`; kept while `frozen` and after, for a rollback). */
  source?: RouteSource;
  /** When this route was set, ms since epoch. */
  since: number;
  reason?: string;
}

/** One change of a route. */
export interface RouteChange {
  at: number;
  from: Route['state'] | null;
  to: Route['state'];
  reason: string;
}

export const ROUTES_OID = 'routes';
const DEFAULT_KEY = '*default';
const LOCAL: Route = { state: 'local', since: 0 };
let seq = 0;

/** The route table of a store (see the file comment). */
export class RouteTable {
  private readonly cache = new Map<string, { route: Route; at: number }>();
  private watching?: Promise<void>;

  constructor(
    private readonly io: IoCtx,
    /** How long a read route is used before it is read again, ms. */
    readonly cacheMs = 500,
  ) {}

  /**
   * Watch the table: a notify drops the whole cache. Set up in the background on the first read
   * (a read never waits for it and never writes). While the table object does not exist yet (no
   * route was ever set) or the watch fails, it is tried again after the cache time; until then
   * the cache time alone bounds how stale a route can be.
   */
  private watch(): void {
    if (this.watching || Date.now() < this.retryAt) return;
    this.watching = this.io
      .watch(ROUTES_OID, () => {
        this.cache.clear();
        for (const l of this.listeners) l();
      })
      .then(
        () => undefined,
        () => {
          this.watching = undefined;
          this.retryAt = Date.now() + this.cacheMs;
        },
      );
  }
  private retryAt = 0;

  private readonly listeners = new Set<() => void>();

  /**
   * Call `cb` whenever a notify says a route changed (on Ceph: a change made by any node). Where
   * the backend cannot watch across processes it is not called for other processes' changes:
   * callers that must see every change also poll (getMany). Returns the function that stops it.
   */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    this.watch();
    return () => this.listeners.delete(cb);
  }

  /**
   * The routes of many users in one read (no cache): each user's own, else the default, else
   * `local`. Throws the store's typed error (Unavailable) when the table cannot be read.
   */
  async getMany(users: string[]): Promise<Map<string, Route>> {
    let got: Map<string, Buffer>;
    try {
      got = await this.io.omapGetByKeys(ROUTES_OID, [...users, DEFAULT_KEY]);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read routes');
      got = new Map();
    }
    const out = new Map<string, Route>();
    for (const u of users) {
      const raw = got.get(u) ?? got.get(DEFAULT_KEY);
      out.set(u, raw ? (JSON.parse(raw.toString()) as Route) : LOCAL);
    }
    return out;
  }

  /**
   * The route of `user`: its own, else the default, else `local`. Cached (see cacheMs). Throws
   * the store's typed error (Unavailable) when the table cannot be read.
   */
  async get(user: string): Promise<Route> {
    this.watch();
    const hit = this.cache.get(user);
    if (hit && Date.now() - hit.at < this.cacheMs) return hit.route;
    let got: Map<string, Buffer>;
    try {
      got = await this.io.omapGetByKeys(ROUTES_OID, [user, DEFAULT_KEY]);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read routes');
      got = new Map();
    }
    const raw = got.get(user) ?? got.get(DEFAULT_KEY);
    const route = raw ? (JSON.parse(raw.toString()) as Route) : LOCAL;
    this.cache.set(user, { route, at: Date.now() });
    return route;
  }

  /** The route stored for `user` itself (no default), or null. */
  async own(user: string): Promise<Route | null> {
    try {
      const raw = (await this.io.omapGetByKeys(ROUTES_OID, [user])).get(user);
      return raw ? (JSON.parse(raw.toString()) as Route) : null;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw fromStoreError(e, 'read routes');
    }
  }

  /**
   * Set the route of `user` (or, with user null, the default), record the change in the history
   * and notify every front end. `expect`, when given, is the state the route must be in now
   * (else Error, nothing changed): a cut-over flips only what it froze.
   */
  async set(user: string | null, route: Omit<Route, 'since'>, reason: string, expect?: Route['state']): Promise<Route> {
    const key = user ?? DEFAULT_KEY;
    const next: Route = { ...route, since: Date.now(), reason };
    if (next.state === 'source' && !next.source) throw new RangeError('a source route needs the old server');
    for (let attempt = 0; ; attempt++) {
      let raw: Buffer | undefined;
      try {
        raw = (await this.io.omapGetByKeys(ROUTES_OID, [key])).get(key);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read routes');
      }
      const cur = raw ? (JSON.parse(raw.toString()) as Route) : null;
      if (expect && (cur?.state ?? 'local') !== expect) {
        throw new Error(`route of ${key} is ${cur?.state ?? 'local'}, not ${expect}`);
      }
      const h = `h:${key}:${String(Date.now()).padStart(15, '0')}:${String(seq++).padStart(9, '0')}`;
      const change: RouteChange = { at: next.since, from: cur?.state ?? null, to: next.state, reason };
      const op = new WriteOp()
        .create(false)
        .omapCmp(key, 'eq', raw ?? Buffer.alloc(0))
        .omapSet({ [key]: JSON.stringify(next), [h]: JSON.stringify(change) });
      try {
        await this.io.operate(ROUTES_OID, op);
        break;
      } catch (e) {
        if (!isErrno(e, 'ECANCELED') || attempt > 20) throw fromStoreError(e, 'set route');
      }
    }
    this.cache.clear();
    await this.io.notify(ROUTES_OID, key, 1000).catch(() => undefined);
    return next;
  }

  /** The changes of `user`'s route (or of the default), oldest first. */
  async history(user: string | null): Promise<RouteChange[]> {
    const prefix = `h:${user ?? DEFAULT_KEY}:`;
    const out: RouteChange[] = [];
    let after: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.io.omapList(ROUTES_OID, { prefix, startAfter: after, max: 1000 });
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return out;
        throw fromStoreError(e, 'read routes');
      }
      for (const v of page.entries.values()) out.push(JSON.parse(v.toString()) as RouteChange);
      if (!page.more) return out;
      after = [...page.entries.keys()].pop();
    }
  }
}
