/**
 * The RADOS contract: what rmb needs from a RADOS cluster, mirroring librados
 * (https://docs.ceph.com/en/latest/rados/api/librados/): cluster -> pool -> namespace -> object,
 * each object with byte data, xattrs and an omap. Nothing is atomic across objects; a compound
 * operation (WriteOp / ReadOp) is applied all-or-nothing on one object.
 */

/** Comparison operators of `cmpxattr` / `omap_cmp` (LIBRADOS_CMPXATTR_OP_*). */
export type CmpOp = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte';
/** The subset `omap_cmp` supports on a Ceph OSD (others are EINVAL there). */
export type OmapCmpOp = 'eq' | 'lt' | 'gt';

/** Result of `stat`: size in bytes, mtime in ms since epoch, object version. */
export interface ObjectStat {
  size: number;
  mtimeMs: number;
  version: number;
}

/** One step of a compound write operation, applied in order. */
export type WriteStep =
  | { op: 'assertExists' }
  | { op: 'create'; exclusive: boolean }
  | { op: 'assertVersion'; version: number }
  | { op: 'cmpXattr'; name: string; cmp: CmpOp; value: Buffer }
  | { op: 'omapCmp'; key: string; cmp: OmapCmpOp; value: Buffer }
  | { op: 'writeFull'; data: Buffer }
  | { op: 'write'; offset: number; data: Buffer }
  | { op: 'append'; data: Buffer }
  | { op: 'truncate'; size: number }
  | { op: 'remove' }
  | { op: 'setXattr'; name: string; value: Buffer }
  | { op: 'rmXattr'; name: string }
  | { op: 'omapSet'; entries: Map<string, Buffer> }
  | { op: 'omapRm'; keys: string[] }
  | { op: 'omapClear' };

/**
 * A compound write operation on one object (librados `rados_write_op_t`). Guards
 * (`assertExists`, `create(true)`, `assertVersion`, `cmpXattr`, `omapCmp`) that fail cancel the
 * whole operation: nothing is changed and the promise rejects (ECANCELED, EEXIST, ENOENT, ERANGE).
 */
export class WriteOp {
  readonly steps: WriteStep[] = [];
  /** Set by refuseWhenFull(). */
  addsData = false;
  /**
   * Mark the op as adding new data (a new mail): while the cluster is flagged full it fails at
   * once with ENOSPC, without being sent. Other writes (flag changes, expunges, deletes) may
   * still use the space the cluster keeps in reserve above its full ratio.
   */
  refuseWhenFull(): this {
    this.addsData = true;
    return this;
  }
  /** Fail with ENOENT unless the object exists. */
  assertExists(): this {
    this.steps.push({ op: 'assertExists' });
    return this;
  }
  /** Create the object; with `exclusive`, fail with EEXIST if it exists. */
  create(exclusive: boolean): this {
    this.steps.push({ op: 'create', exclusive });
    return this;
  }
  /** Fail with ERANGE unless the object's version equals `version`. */
  assertVersion(version: number): this {
    this.steps.push({ op: 'assertVersion', version });
    return this;
  }
  /** Fail with ECANCELED unless `stored <cmp> value` holds for xattr `name`; a missing
   * xattr compares as the empty value, as on a Ceph OSD. */
  cmpXattr(name: string, cmp: CmpOp, value: Buffer | string): this {
    this.steps.push({ op: 'cmpXattr', name, cmp, value: toBuf(value) });
    return this;
  }
  /** Fail with ECANCELED unless `stored <cmp> value` holds for omap key `key`; a missing
   * key compares as the empty value, as on a Ceph OSD. */
  omapCmp(key: string, cmp: OmapCmpOp, value: Buffer | string): this {
    this.steps.push({ op: 'omapCmp', key, cmp, value: toBuf(value) });
    return this;
  }
  /** Replace the object's data. */
  writeFull(data: Buffer): this {
    this.steps.push({ op: 'writeFull', data });
    return this;
  }
  /** Write `data` at byte `offset`, extending the object with zeros if needed. */
  write(offset: number, data: Buffer): this {
    this.steps.push({ op: 'write', offset, data });
    return this;
  }
  /** Append `data` at the end of the object. */
  append(data: Buffer): this {
    this.steps.push({ op: 'append', data });
    return this;
  }
  /** Truncate (or zero-extend) the data to `size` bytes. */
  truncate(size: number): this {
    this.steps.push({ op: 'truncate', size });
    return this;
  }
  /** Remove the object (ENOENT if it does not exist). */
  remove(): this {
    this.steps.push({ op: 'remove' });
    return this;
  }
  setXattr(name: string, value: Buffer | string): this {
    this.steps.push({ op: 'setXattr', name, value: toBuf(value) });
    return this;
  }
  rmXattr(name: string): this {
    this.steps.push({ op: 'rmXattr', name });
    return this;
  }
  /** Set omap entries (values as bytes or UTF-8 strings). */
  omapSet(entries: Map<string, Buffer | string> | Record<string, Buffer | string>): this {
    const m = new Map<string, Buffer>();
    const it = entries instanceof Map ? entries.entries() : Object.entries(entries);
    for (const [k, v] of it) m.set(k, toBuf(v));
    if (m.size) this.steps.push({ op: 'omapSet', entries: m });
    return this;
  }
  omapRm(keys: string[]): this {
    if (keys.length) this.steps.push({ op: 'omapRm', keys });
    return this;
  }
  omapClear(): this {
    this.steps.push({ op: 'omapClear' });
    return this;
  }
}

/** One step of a compound read operation; results come back in the same order. */
export type ReadStep =
  | { op: 'assertExists' }
  | { op: 'assertVersion'; version: number }
  | { op: 'omapCmp'; key: string; cmp: OmapCmpOp; value: Buffer }
  | { op: 'stat' }
  | { op: 'read'; offset: number; length: number }
  | { op: 'getXattrs' }
  | { op: 'omapGetByKeys'; keys: string[] }
  | { op: 'omapList'; opts: OmapListOptions };

/** A compound read on one object (librados `rados_read_op_t`), one round trip. */
export class ReadOp {
  readonly steps: ReadStep[] = [];
  assertExists(): this {
    this.steps.push({ op: 'assertExists' });
    return this;
  }
  assertVersion(version: number): this {
    this.steps.push({ op: 'assertVersion', version });
    return this;
  }
  omapCmp(key: string, cmp: OmapCmpOp, value: Buffer | string): this {
    this.steps.push({ op: 'omapCmp', key, cmp, value: toBuf(value) });
    return this;
  }
  /** Result: ObjectStat. */
  stat(): this {
    this.steps.push({ op: 'stat' });
    return this;
  }
  /** Result: Buffer of at most `length` bytes from `offset`. */
  read(offset: number, length: number): this {
    this.steps.push({ op: 'read', offset, length });
    return this;
  }
  /** Result: Map name -> value. */
  getXattrs(): this {
    this.steps.push({ op: 'getXattrs' });
    return this;
  }
  /** Result: Map key -> value for the keys that exist. */
  omapGetByKeys(keys: string[]): this {
    this.steps.push({ op: 'omapGetByKeys', keys });
    return this;
  }
  /** Result: OmapPage. */
  omapList(opts: OmapListOptions = {}): this {
    this.steps.push({ op: 'omapList', opts });
    return this;
  }
}

/** The result of one ReadStep, in order. */
export type ReadResult = ObjectStat | Buffer | Map<string, Buffer> | OmapPage | null;

/** Omap range query: keys > startAfter, starting with prefix, at most max (default 1000). */
export interface OmapListOptions {
  startAfter?: string;
  prefix?: string;
  max?: number;
}

/** One page of omap entries, in key order; `more` when entries beyond this page exist. */
export interface OmapPage {
  entries: Map<string, Buffer>;
  more: boolean;
}

/** One page of an object listing; pass `cursor` back for the next page, undefined at the end. */
export interface ObjectListPage {
  objects: { namespace: string; oid: string }[];
  cursor?: string;
}

/** A notification delivered to a watcher. `payload` as sent by notify. */
export interface NotifyEvent {
  oid: string;
  payload: Buffer;
  notifierId: string;
}

/** A registered watch; `unwatch()` removes it. */
export interface WatchHandle {
  unwatch(): Promise<void>;
}

/** Result of notify: which watchers acknowledged, which timed out. */
export interface NotifyResult {
  acks: string[];
  timeouts: string[];
}

/** Namespace value that lists objects of all namespaces (LIBRADOS_ALL_NSPACES). */
export const ALL_NAMESPACES = '\u0001all';

/**
 * An I/O context: one pool and one namespace (librados `rados_ioctx_t` with
 * `rados_ioctx_set_namespace`). All methods are asynchronous, one round trip each.
 */
export interface IoCtx {
  readonly pool: string;
  readonly namespace: string;
  /**
   * Whether the pool is flagged full as of the last check (librados: the monitors' FLAG_FULL /
   * FLAG_FULL_QUOTA, polled every fullCheckIntervalMs; the local backends are never full): writes
   * marked refuseWhenFull() fail now, and callers should free space rather than defer it.
   */
  readonly full: boolean;
  /** A new IoCtx on the same pool with another namespace. */
  withNamespace(ns: string): IoCtx;
  /** Throws ObjectNotFound. */
  stat(oid: string): Promise<ObjectStat>;
  /** Up to `length` bytes from `offset` (fewer at the end). Throws ObjectNotFound. */
  read(oid: string, offset?: number, length?: number): Promise<Buffer>;
  /** Throws ObjectNotFound, NoData. */
  getXattr(oid: string, name: string): Promise<Buffer>;
  /** Throws ObjectNotFound. */
  getXattrs(oid: string): Promise<Map<string, Buffer>>;
  /** Values of the given keys that exist. Throws ObjectNotFound. */
  omapGetByKeys(oid: string, keys: string[]): Promise<Map<string, Buffer>>;
  /** A page of omap entries. Throws ObjectNotFound. */
  omapList(oid: string, opts?: OmapListOptions): Promise<OmapPage>;
  /** Apply a compound write all-or-nothing. Throws on a failed guard (nothing changed). */
  operate(oid: string, op: WriteOp): Promise<void>;
  /** Apply a compound read; results in step order (null for guards). */
  operateRead(oid: string, op: ReadOp): Promise<ReadResult[]>;
  /** Shorthands for single-step writes. */
  writeFull(oid: string, data: Buffer): Promise<void>;
  write(oid: string, data: Buffer, offset: number): Promise<void>;
  append(oid: string, data: Buffer): Promise<void>;
  remove(oid: string): Promise<void>;
  setXattr(oid: string, name: string, value: Buffer | string): Promise<void>;
  omapSet(oid: string, entries: Map<string, Buffer | string> | Record<string, Buffer | string>): Promise<void>;
  omapRm(oid: string, keys: string[]): Promise<void>;
  /** Objects of this namespace (or ALL_NAMESPACES), paged; order is backend-defined. */
  list(cursor?: string, max?: number): Promise<ObjectListPage>;
  /** Watch an object (must exist) for notifications. */
  watch(oid: string, onNotify: (ev: NotifyEvent) => void): Promise<WatchHandle>;
  /** Notify every watcher of `oid`; resolves once all acknowledged or `timeoutMs` passed. */
  notify(oid: string, payload: Buffer | string, timeoutMs?: number): Promise<NotifyResult>;
}

/**
 * The single-step write shorthands of IoCtx, each one `operate` with a one-step WriteOp; backends
 * extend this and implement the rest.
 */
export abstract class IoCtxShorthands {
  abstract operate(oid: string, op: WriteOp): Promise<void>;
  writeFull(oid: string, data: Buffer): Promise<void> {
    return this.operate(oid, new WriteOp().writeFull(data));
  }
  write(oid: string, data: Buffer, offset: number): Promise<void> {
    return this.operate(oid, new WriteOp().write(offset, data));
  }
  append(oid: string, data: Buffer): Promise<void> {
    return this.operate(oid, new WriteOp().append(data));
  }
  remove(oid: string): Promise<void> {
    return this.operate(oid, new WriteOp().remove());
  }
  setXattr(oid: string, name: string, value: Buffer | string): Promise<void> {
    return this.operate(oid, new WriteOp().setXattr(name, value));
  }
  omapSet(oid: string, entries: Map<string, Buffer | string> | Record<string, Buffer | string>): Promise<void> {
    return this.operate(oid, new WriteOp().omapSet(entries));
  }
  omapRm(oid: string, keys: string[]): Promise<void> {
    return this.operate(oid, new WriteOp().omapRm(keys));
  }
}

/** A connection to a cluster (librados `rados_t`). */
export interface Cluster {
  /** Which backend this is: 'memory' | 'embedded' | 'librados'. */
  readonly backend: string;
  /** An IoCtx on `pool` (created on first use by local backends) and namespace `ns`. */
  ioCtx(pool: string, ns?: string): Promise<IoCtx>;
  /** Counters of operations sent, for the cost model (ops and round trips). */
  readonly stats: OpStats;
  /** Close the connection; pending operations finish first. */
  close(): Promise<void>;
}

/** Counts of round trips by kind since the cluster was opened. */
export interface OpStats {
  reads: number;
  writes: number;
  /** Reset all counters to 0. */
  reset(): void;
}

/** Convert a string (UTF-8) or Buffer to a Buffer. */
export function toBuf(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** Compare stored vs given bytes the way Ceph does (memcmp order, shorter first on tie). */
export function cmpHolds(stored: Buffer, cmp: CmpOp, given: Buffer): boolean {
  const c = Buffer.compare(stored, given);
  switch (cmp) {
    case 'eq':
      return c === 0;
    case 'ne':
      return c !== 0;
    case 'gt':
      return c > 0;
    case 'gte':
      return c >= 0;
    case 'lt':
      return c < 0;
    case 'lte':
      return c <= 0;
  }
}
