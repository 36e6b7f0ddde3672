/**
 * The local RADOS backends (memory and embedded): the object model of the contract implemented
 * once over a transactional KvEngine. Layout of keys (parts joined by encodeKey):
 *   O pool ns oid            -> object meta JSON {size, version, mtimeMs}
 *   X pool ns oid name       -> xattr value
 *   K pool ns oid key        -> omap value
 *   D pool ns oid chunk#     -> data chunk (CHUNK bytes each, the last one shorter)
 * A compound op runs inside one KV write transaction; a failed guard throws, which aborts it.
 */
import { randomUUID } from 'node:crypto';
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
  WriteOp,
  type WatchHandle,
  IoCtxShorthands,
  cmpHolds,
  toBuf,
} from './contract.js';
import { InvalidArgument, NoData, ObjectExists, ObjectNotFound, OpCanceled, VersionMismatch } from './errors.js';
import { type KvEngine, type KvTxn, childrenRange, decodeKeyTail, encodeKey } from './kv.js';
import { NotifyBus } from './notify-bus.js';

/** Bytes per data chunk in the KV store. */
export const CHUNK = 1 << 20;

interface Meta {
  size: number;
  version: number;
  mtimeMs: number;
}

type Watcher = { id: string; cb: (ev: NotifyEvent) => void };

/**
 * Watch/notify registry shared by all IoCtx of one local cluster (one process); the embedded
 * backend carries notifies to and from other processes on its bus (notify-bus.ts).
 */
class WatchHub {
  private readonly watchers = new Map<string, Set<Watcher>>();
  add(key: string, w: Watcher): void {
    let s = this.watchers.get(key);
    if (!s) this.watchers.set(key, (s = new Set()));
    s.add(w);
  }
  remove(key: string, w: Watcher): void {
    const s = this.watchers.get(key);
    s?.delete(w);
    if (s && !s.size) this.watchers.delete(key);
  }
  notify(key: string, ev: NotifyEvent): string[] {
    const acks: string[] = [];
    for (const w of this.watchers.get(key) ?? []) {
      acks.push(w.id);
      setImmediate(() => {
        try {
          w.cb(ev);
        } catch {
          /* a watcher's failure is its own */
        }
      });
    }
    return acks;
  }
}

class Stats implements OpStats {
  reads = 0;
  writes = 0;
  reset(): void {
    this.reads = 0;
    this.writes = 0;
  }
}

/** A Cluster over a KvEngine. `backend` names it ('memory' or 'embedded'). */
export class LocalCluster implements Cluster {
  readonly stats = new Stats();
  readonly hub = new WatchHub();
  readonly clientId = randomUUID();
  constructor(
    readonly backend: string,
    readonly kv: KvEngine,
  ) {}
  async ioCtx(pool: string, ns = ''): Promise<IoCtx> {
    if (!pool) throw new InvalidArgument('empty pool name');
    return new LocalIoCtx(this, pool, ns);
  }

  /** The bus to the other processes on the same store (embedded backend), once joined. */
  bus?: NotifyBus;

  /**
   * Join the cross-process notify bus in `dir` (notify-bus.ts): notifies of this process reach
   * watchers in every process on the store, and theirs reach this one's. Without it (the memory
   * backend, or a directory where no socket can be made) watch/notify stays within the process.
   */
  async joinBus(dir: string): Promise<boolean> {
    const bus = new NotifyBus(dir, (key, oid, payload, notifierId) => {
      this.hub.notify(key, { oid, payload, notifierId });
    });
    try {
      await bus.start();
    } catch {
      await bus.close().catch(() => undefined);
      return false;
    }
    this.bus = bus;
    return true;
  }

  async close(): Promise<void> {
    await this.bus?.close();
    await this.kv.close();
  }
}

class LocalIoCtx extends IoCtxShorthands implements IoCtx {
  constructor(
    private readonly c: LocalCluster,
    readonly pool: string,
    readonly namespace: string,
  ) {
    super();
  }

  withNamespace(ns: string): IoCtx {
    return new LocalIoCtx(this.c, this.pool, ns);
  }

  /** A local store is never flagged full (a full disk fails the write itself). */
  readonly full = false;

  private k(kind: string, oid: string, ...rest: string[]): Buffer {
    if (!oid) throw new InvalidArgument('empty object name');
    return encodeKey([kind, this.pool, this.namespace, oid, ...rest]);
  }
  private meta(t: KvTxn, oid: string): Meta | undefined {
    const v = t.get(this.k('O', oid));
    return v ? (JSON.parse(v.toString('utf8')) as Meta) : undefined;
  }
  private mustMeta(t: KvTxn, oid: string): Meta {
    const m = this.meta(t, oid);
    if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
    return m;
  }
  private chunkKey(oid: string, i: number): Buffer {
    return this.k('D', oid, String(i).padStart(8, '0'));
  }

  private readData(t: KvTxn, oid: string, m: Meta, offset: number, length: number): Buffer {
    const end = Math.min(m.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    for (let i = Math.floor(offset / CHUNK); i * CHUNK < end; i++) {
      const chunk = t.get(this.chunkKey(oid, i));
      if (!chunk) continue; // a hole reads as zeros
      const cStart = i * CHUNK;
      const from = Math.max(offset, cStart),
        to = Math.min(end, cStart + chunk.length);
      if (to > from) chunk.copy(out, from - offset, from - cStart, to - cStart);
    }
    return out;
  }

  private writeData(t: KvTxn, oid: string, m: Meta, offset: number, data: Buffer): void {
    const end = offset + data.length;
    for (let i = Math.floor(offset / CHUNK); i * CHUNK < end; i++) {
      const cStart = i * CHUNK;
      const key = this.chunkKey(oid, i);
      const old = t.get(key) ?? Buffer.alloc(0);
      const newLen = Math.max(old.length, Math.min(CHUNK, end - cStart));
      const chunk = Buffer.alloc(newLen);
      old.copy(chunk);
      const from = Math.max(offset, cStart),
        to = Math.min(end, cStart + CHUNK);
      data.copy(chunk, from - cStart, from - offset, to - offset);
      t.put(key, chunk);
    }
    m.size = Math.max(m.size, end);
  }

  private truncateData(t: KvTxn, oid: string, m: Meta, size: number): void {
    if (size < m.size) {
      const [s, e] = childrenRange(encodeKey(['D', this.pool, this.namespace, oid]));
      const keep = Math.ceil(size / CHUNK);
      for (const [key] of [...t.range(s, e)]) {
        const idx = Number(decodeKeyTail(key, s.length));
        if (idx >= keep) t.del(key);
        else if (idx === keep - 1 && size % CHUNK) {
          const c = t.get(key)!;
          if (c.length > size % CHUNK) t.put(key, c.subarray(0, size % CHUNK));
        }
      }
    }
    m.size = size;
  }

  private clearKind(t: KvTxn, kind: string, oid: string): void {
    const [s, e] = childrenRange(encodeKey([kind, this.pool, this.namespace, oid]));
    for (const [key] of [...t.range(s, e)]) t.del(key);
  }

  private omapPage(t: KvTxn, oid: string, opts: OmapListOptions): OmapPage {
    const [s, e] = childrenRange(encodeKey(['K', this.pool, this.namespace, oid]));
    const max = opts.max ?? 1000;
    let start = s;
    const prefix = opts.prefix ?? '';
    const from = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter : prefix;
    if (from) start = Buffer.concat([s, encodeKey([from])]);
    const entries = new Map<string, Buffer>();
    let more = false;
    for (const [key, value] of t.range(start, e)) {
      const name = decodeKeyTail(key, s.length);
      if (opts.startAfter !== undefined && name <= opts.startAfter) continue;
      if (prefix && !name.startsWith(prefix)) break;
      if (entries.size >= max) {
        more = true;
        break;
      }
      entries.set(name, value);
    }
    return { entries, more };
  }

  async stat(oid: string): Promise<ObjectStat> {
    this.c.stats.reads++;
    return this.c.kv.read((t) => ({ ...this.mustMeta(t, oid) }));
  }

  async read(oid: string, offset = 0, length = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    this.c.stats.reads++;
    return this.c.kv.read((t) => this.readData(t, oid, this.mustMeta(t, oid), offset, length));
  }

  async getXattr(oid: string, name: string): Promise<Buffer> {
    this.c.stats.reads++;
    return this.c.kv.read((t) => {
      this.mustMeta(t, oid);
      const v = t.get(this.k('X', oid, name));
      if (!v) throw new NoData(`xattr ${name} of ${oid}`);
      return v;
    });
  }

  async getXattrs(oid: string): Promise<Map<string, Buffer>> {
    const [r] = await this.operateRead(oid, new ReadOp().getXattrs());
    return r as Map<string, Buffer>;
  }

  async omapGetByKeys(oid: string, keys: string[]): Promise<Map<string, Buffer>> {
    const [r] = await this.operateRead(oid, new ReadOp().omapGetByKeys(keys));
    return r as Map<string, Buffer>;
  }

  async omapList(oid: string, opts: OmapListOptions = {}): Promise<OmapPage> {
    const [r] = await this.operateRead(oid, new ReadOp().omapList(opts));
    return r as OmapPage;
  }

  async operateRead(oid: string, op: ReadOp): Promise<ReadResult[]> {
    this.c.stats.reads++;
    return this.c.kv.read((t) => {
      const m = this.mustMeta(t, oid);
      return op.steps.map((st): ReadResult => {
        switch (st.op) {
          case 'assertExists':
            return null;
          case 'assertVersion':
            if (m.version !== st.version) throw new VersionMismatch(`${oid} is at version ${m.version}`);
            return null;
          case 'omapCmp': {
            const v = t.get(this.k('K', oid, st.key)) ?? Buffer.alloc(0);
            if (!cmpHolds(v, st.cmp, st.value)) throw new OpCanceled(`omap ${st.key} of ${oid}`);
            return null;
          }
          case 'stat':
            return { ...m };
          case 'read':
            return this.readData(t, oid, m, st.offset, st.length);
          case 'getXattrs': {
            const [s, e] = childrenRange(encodeKey(['X', this.pool, this.namespace, oid]));
            const out = new Map<string, Buffer>();
            for (const [key, value] of t.range(s, e)) out.set(decodeKeyTail(key, s.length), value);
            return out;
          }
          case 'omapGetByKeys': {
            const out = new Map<string, Buffer>();
            for (const key of st.keys) {
              const v = t.get(this.k('K', oid, key));
              if (v) out.set(key, v);
            }
            return out;
          }
          case 'omapList':
            return this.omapPage(t, oid, st.opts);
        }
      });
    });
  }

  async operate(oid: string, op: WriteOp): Promise<void> {
    this.c.stats.writes++;
    if (!oid) throw new InvalidArgument('empty object name');
    await this.c.kv.write((t) => {
      let m = this.meta(t, oid);
      const existed = !!m;
      let removed = false;
      const ensure = (): Meta => {
        if (!m) {
          m = { size: 0, version: 0, mtimeMs: Date.now() };
          removed = false;
        }
        return m;
      };
      for (const st of op.steps) {
        switch (st.op) {
          case 'assertExists':
            if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
            break;
          case 'create':
            if (m && st.exclusive) throw new ObjectExists(`${this.namespace}/${oid}`);
            ensure();
            break;
          case 'assertVersion':
            if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
            if (m.version !== st.version) throw new VersionMismatch(`${oid} is at version ${m.version}`);
            break;
          case 'cmpXattr': {
            if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
            const v = t.get(this.k('X', oid, st.name)) ?? Buffer.alloc(0);
            if (!cmpHolds(v, st.cmp, st.value)) throw new OpCanceled(`xattr ${st.name} of ${oid}`);
            break;
          }
          case 'omapCmp': {
            if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
            const v = t.get(this.k('K', oid, st.key)) ?? Buffer.alloc(0);
            if (!cmpHolds(v, st.cmp, st.value)) throw new OpCanceled(`omap ${st.key} of ${oid}`);
            break;
          }
          case 'writeFull': {
            const mm = ensure();
            this.clearKind(t, 'D', oid);
            mm.size = 0;
            this.writeData(t, oid, mm, 0, st.data);
            break;
          }
          case 'write':
            this.writeData(t, oid, ensure(), st.offset, st.data);
            break;
          case 'append': {
            const mm = ensure();
            this.writeData(t, oid, mm, mm.size, st.data);
            break;
          }
          case 'truncate':
            this.truncateData(t, oid, ensure(), st.size);
            break;
          case 'remove':
            if (!m) throw new ObjectNotFound(`${this.namespace}/${oid}`);
            for (const kind of ['D', 'X', 'K']) this.clearKind(t, kind, oid);
            m = undefined;
            removed = true;
            break;
          case 'setXattr':
            ensure();
            t.put(this.k('X', oid, st.name), st.value);
            break;
          case 'rmXattr':
            ensure();
            t.del(this.k('X', oid, st.name));
            break;
          case 'omapSet':
            ensure();
            for (const [k, v] of st.entries) t.put(this.k('K', oid, k), v);
            break;
          case 'omapRm':
            ensure();
            for (const k of st.keys) t.del(this.k('K', oid, k));
            break;
          case 'omapClear':
            ensure();
            this.clearKind(t, 'K', oid);
            break;
        }
      }
      const mk = this.k('O', oid);
      if (m) {
        const mm = m as Meta;
        mm.version += 1;
        mm.mtimeMs = Date.now();
        t.put(mk, Buffer.from(JSON.stringify(mm)));
      } else if (removed && existed) t.del(mk);
    });
  }

  async list(cursor?: string, max = 1000): Promise<ObjectListPage> {
    this.c.stats.reads++;
    return this.c.kv.read((t) => {
      const all = this.namespace === ALL_NAMESPACES;
      const base = all ? encodeKey(['O', this.pool]) : encodeKey(['O', this.pool, this.namespace]);
      const [s, e] = childrenRange(base);
      const start = cursor ? Buffer.concat([Buffer.from(cursor, 'base64'), Buffer.from([0])]) : s;
      const objects: { namespace: string; oid: string }[] = [];
      let last: Buffer | undefined;
      for (const [key] of t.range(start, e)) {
        if (objects.length >= max) return { objects, cursor: last!.toString('base64') };
        last = key;
        if (all) {
          // tail is "ns \0 oid": split on the first unescaped separator.
          const tail = key.subarray(s.length);
          const sep = tail.indexOf(0);
          objects.push({
            namespace: decodeKeyTail(tail.subarray(0, sep), 0),
            oid: decodeKeyTail(tail, sep + 1),
          });
        } else objects.push({ namespace: this.namespace, oid: decodeKeyTail(key, s.length) });
      }
      return { objects };
    });
  }

  async watch(oid: string, onNotify: (ev: NotifyEvent) => void): Promise<WatchHandle> {
    await this.stat(oid);
    const key = `${this.pool}\0${this.namespace}\0${oid}`;
    const w = { id: randomUUID(), cb: onNotify };
    this.c.hub.add(key, w);
    return { unwatch: async () => this.c.hub.remove(key, w) };
  }

  async notify(oid: string, payload: Buffer | string): Promise<NotifyResult> {
    this.c.stats.writes++;
    const key = `${this.pool}\0${this.namespace}\0${oid}`;
    const buf = toBuf(payload);
    const acks = this.c.hub.notify(key, { oid, payload: buf, notifierId: this.c.clientId });
    // other processes' watchers are told asynchronously; their acknowledgements are not awaited
    this.c.bus?.publish(key, oid, buf, this.c.clientId);
    return { acks, timeouts: [] };
  }
}
