/**
 * Index entries of a large mailbox sharded over several objects, with the index object's `h`
 * staying the single guard (issue 14 item 3, ADR 0020).
 *
 * UIDs are cut into ranges of `shardWidth` (a setting fixed in `h` when the index is made). A range
 * is closed once every UID in it has been given out (UIDNEXT is past it): no message can join it
 * again, because UIDs only grow (RFC 3501 §2.3.1.1). The entries of a closed range may be moved,
 * by a compaction, into an immutable shard object `i.<id>.<range>.<random>` named by the index
 * object's key `s:<range>`. What happens to a message after that is written, as before, in the
 * index object under its `u:` key, in the guarded commit of the change:
 *   - a flag change writes the whole new entry there (an overlay: it wins over the shard's);
 *   - an expunge writes an empty value there (a tombstone) when the range has a shard.
 * Every commit therefore stays one op on one object. A compaction writes a new shard object first
 * (the old shard merged with the overlays and tombstones of its range; nothing refers to it yet),
 * then swaps `s:<range>` and removes the merged keys in one guarded commit that checks the keys it
 * merged are unchanged, then removes the old shard. Readers take `s:` records and the index
 * object's keys in one op; a shard gone under them (replaced) is read again through `s:`.
 *
 * `inline` in `h` counts the `u:` keys of the index object once a compaction has run (before, it
 * equals MESSAGES). A compaction starts, in the process that committed, when it passes the width.
 */
import { randomBytes } from 'node:crypto';
import { ObjectNotFound, ReadOp, WriteOp, type IoCtx, type OmapPage } from '@rmb/rados';
import { MailError } from './errors.js';
import { COUNTERS_KEY, UID_PREFIX, uidKey } from './layout.js';
import type { Counters, IndexEntry } from './types.js';
import type { CommitLanes } from './commit-lane.js';
import { BackgroundJobs } from './background.js';

/** Prefix of shardKey. */
export const SHARD_PREFIX = 's:';
/** Index omap key naming the shard object of UID range `k` (zero-padded to 10 digits). */
export const shardKey = (k: number): string => `s:${String(k).padStart(10, '0')}`;
/** Range number of a shardKey. */
const rangeOfKey = (key: string): number => Number(key.slice(2));
/** UID of a uidKey. */
const uidOfKey = (key: string): number => Number(key.slice(2));

/** Shard width of indexes made before the setting existed (their `h` has no shardWidth). */
export const LEGACY_SHARD_WIDTH = 100_000;
/**
 * Default `store.indexShardEntries`. Ceph warns past 200,000 omap keys on one object; a compaction
 * reads and rewrites one width of entries, so a width of 10,000 keeps each one short (a few hundred
 * ms of background work every 10,000 messages) while the index object stays far below the warning.
 */
export const DEFAULT_SHARD_WIDTH = 10_000;

/** UIDs per range of an index (0: never sharded). */
export const widthOf = (c: Counters): number => c.shardWidth ?? LEGACY_SHARD_WIDTH;
/** The range of `uid` at width `w` (> 0). */
export const rangeOf = (uid: number, w: number): number => Math.floor((uid - 1) / w);
/** Whether every UID of range `k` has been given out (no message can join it). */
export const isClosed = (k: number, w: number, uidnext: number): boolean => w > 0 && (k + 1) * w < uidnext;
/** `u:` keys in the index object (overlays and tombstones included). */
export const inlineCount = (c: Counters): number => c.inline ?? c.messages;
/** Add `d` to the index object's `u:` key count, once it is kept (after the first compaction). */
export function bumpInline(c: Counters, d: number): void {
  if (c.inline !== undefined) c.inline += d;
}

/**
 * Thrown by a plan that needs entries of shard objects it was not given (or `s:` keys it did not
 * ask for): the caller reads them and submits the change again (Mailbox.update).
 */
export class ShardMiss extends MailError {
  constructor(
    /** shard object -> UIDs to read from it */
    readonly shards: Map<string, number[]>,
    /** `s:` keys the plan needs and did not get */
    readonly keys: string[],
  ) {
    super('ShardMiss', 'index entries are in shard objects not read yet');
  }
}

/** What an index change sees of one message: its entry and where it lives. */
export interface Resolved {
  entry: IndexEntry | undefined;
  /** The index object has a `u:` key (entry, overlay or tombstone) for it. */
  inlineKey: boolean;
  /** Its range has a shard object (an expunge then writes a tombstone instead of removing the key). */
  shard: boolean;
}

/**
 * Entries of `uids` as a planned change sees them: from the index object's keys `got` (read with
 * the change) and from shard objects read before (`pre`: shard object -> uid -> entry). Throws
 * ShardMiss listing everything missing at once.
 */
export function resolveAll(
  uids: number[],
  c: Counters,
  got: Map<string, Buffer>,
  requested: Set<string>,
  pre: Map<string, Map<number, IndexEntry>>,
): Map<number, Resolved> {
  const w = widthOf(c);
  const out = new Map<number, Resolved>();
  const missing = new Map<string, number[]>();
  const keys = new Set<string>();
  for (const uid of uids) {
    const raw = got.get(uidKey(uid));
    const k = w > 0 ? rangeOf(uid, w) : -1;
    const sk = w > 0 && isClosed(k, w, c.uidnext) ? shardKey(k) : undefined;
    if (sk && !requested.has(sk)) {
      keys.add(sk);
      continue;
    }
    const soid = sk ? got.get(sk)?.toString() : undefined;
    if (raw) {
      out.set(uid, {
        entry: raw.length ? (JSON.parse(raw.toString()) as IndexEntry) : undefined,
        inlineKey: true,
        shard: !!soid,
      });
    } else if (!soid) {
      out.set(uid, { entry: undefined, inlineKey: false, shard: false });
    } else {
      const m = pre.get(soid);
      if (m) out.set(uid, { entry: m.get(uid), inlineKey: false, shard: true });
      else missing.set(soid, [...(missing.get(soid) ?? []), uid]);
    }
  }
  if (missing.size || keys.size) throw new ShardMiss(missing, [...keys]);
  return out;
}

/** Widths learnt per index object (fixed for an index's life): lets a change ask for `s:` keys at once. */
const widths = new Map<string, number>();
/** The width of index object `oid` (namespace-qualified key) if seen, else undefined. */
export const knownWidth = (key: string): number | undefined => widths.get(key);
/** Remember the width of index object `key` from counters read. */
export function learnWidth(key: string, c: Counters): void {
  if (widths.size > 100_000) widths.clear();
  widths.set(key, widthOf(c));
}

/** The `s:` keys of the ranges of `uids` at width `w` (none when unknown or 0). */
export function shardKeysOf(uids: number[], w: number | undefined): string[] {
  if (!w) return [];
  return [...new Set(uids.map((u) => shardKey(rangeOf(u, w))))];
}

/** Read the entries of `uids` from shard objects (`shards`: object -> UIDs) into `pre`; a gone shard is skipped. */
export async function readShards(
  io: IoCtx,
  shards: Map<string, number[]>,
  pre: Map<string, Map<number, IndexEntry>>,
): Promise<void> {
  await Promise.all(
    [...shards].map(async ([soid, uids]) => {
      try {
        const got = await io.omapGetByKeys(soid, uids.map(uidKey));
        const m = new Map<number, IndexEntry>();
        for (const [k, v] of got) m.set(uidOfKey(k), JSON.parse(v.toString()) as IndexEntry);
        pre.set(soid, m);
      } catch (e) {
        if (!(e instanceof ObjectNotFound)) throw e; // replaced by a compaction: `s:` is read again
      }
    }),
  );
}

/**
 * Walk the entries with uid >= fromUid in UID order, in pages of up to `max`, merging shard
 * objects with the index object's overlays and tombstones. The first page comes with the counters
 * read in the same op (one round trip for an unsharded mailbox of up to `max` messages). Not a
 * snapshot across pages (as any paged read): each page is consistent in itself.
 * Throws the store's errors; Error when a shard named by `s:` stays missing.
 */
export async function* walkEntries(
  io: IoCtx,
  oid: string,
  fromUid: number,
  max: number,
): AsyncGenerator<{ entries: IndexEntry[]; counters?: Counters }> {
  const wkey = `${io.namespace}\u0000${oid}`;
  let frontier = Math.max(1, fromUid);
  let w = knownWidth(wkey);
  let counters: Counters | undefined;
  let gone = 0;
  for (;;) {
    // the range of the frontier needs the width: read with `h` when starting at the first UID
    const needH = counters === undefined;
    if (needH && w === undefined && frontier > 1) {
      counters = parse((await io.omapGetByKeys(oid, [COUNTERS_KEY])).get(COUNTERS_KEY));
      learnWidth(wkey, counters);
      w = widthOf(counters);
    }
    const k = w && frontier > 1 ? rangeOf(frontier, w) : 0;
    const op = new ReadOp();
    if (counters === undefined) op.omapGetByKeys([COUNTERS_KEY]);
    op.omapList({ prefix: SHARD_PREFIX, startAfter: k > 0 ? shardKey(k - 1) : undefined, max: 2 });
    op.omapList({ prefix: UID_PREFIX, startAfter: frontier > 1 ? uidKey(frontier - 1) : undefined, max });
    const res = await io.operateRead(oid, op);
    let first: Counters | undefined;
    if (counters === undefined) {
      counters = first = parse((res.shift() as Map<string, Buffer>).get(COUNTERS_KEY));
      learnWidth(wkey, counters);
      w = widthOf(counters);
    }
    const shards = res[0] as OmapPage;
    const inline = res[1] as OmapPage;
    let sk: string | undefined;
    let next: number | undefined;
    for (const [key, v] of shards.entries) {
      const r = rangeOfKey(key);
      if (r === k && w) sk = v.toString();
      else if (r > k && next === undefined) next = r;
    }
    const segEnd = sk ? (k + 1) * w! : next !== undefined ? next * w! : Infinity;
    const mine: [number, Buffer][] = [];
    let beyond = false;
    for (const [key, v] of inline.entries) {
      const uid = uidOfKey(key);
      if (uid > segEnd) {
        beyond = true;
        break;
      }
      mine.push([uid, v]);
    }
    const inlineUpto = !inline.more || beyond ? segEnd : mine[mine.length - 1][0];
    let fromShard: [number, Buffer][] = [];
    let shardUpto = segEnd;
    if (sk) {
      let sp: OmapPage;
      try {
        sp = await io.omapList(sk, {
          prefix: UID_PREFIX,
          startAfter: frontier > 1 ? uidKey(frontier - 1) : undefined,
          max,
        });
      } catch (e) {
        // replaced by a compaction since `s:` was read: read `s:` again (bounded: a shard that
        // stays missing is a damaged index, for `rmb check`)
        if (e instanceof ObjectNotFound && ++gone < 5) continue;
        throw e instanceof ObjectNotFound ? new Error(`index ${oid}: shard ${sk} is missing`) : e;
      }
      fromShard = [...sp.entries].map(([key, v]) => [uidOfKey(key), v]);
      if (sp.more) shardUpto = fromShard[fromShard.length - 1][0];
    }
    const upto = Math.min(inlineUpto, shardUpto);
    const entries = merge(fromShard, mine, upto);
    if (entries.length || first) yield first ? { entries, counters: first } : { entries };
    if (upto === Infinity) return;
    frontier = upto + 1;
    gone = 0;
  }
}

/** Shard entries overlaid by the index object's (a tombstone drops one), up to `upto`, in UID order. */
function merge(shard: [number, Buffer][], inline: [number, Buffer][], upto: number): IndexEntry[] {
  const out: IndexEntry[] = [];
  let i = 0;
  let j = 0;
  for (;;) {
    const a = i < shard.length && shard[i][0] <= upto ? shard[i] : undefined;
    const b = j < inline.length && inline[j][0] <= upto ? inline[j] : undefined;
    if (!a && !b) return out;
    let v: Buffer;
    if (a && b && a[0] === b[0]) {
      v = b[1];
      i++;
      j++;
    } else if (b && (!a || b[0] < a[0])) {
      v = b[1];
      j++;
    } else {
      v = a![1];
      i++;
    }
    if (v.length) out.push(JSON.parse(v.toString()) as IndexEntry);
  }
}

function parse(raw: Buffer | undefined): Counters {
  if (!raw) throw new ObjectNotFound('index counters');
  return JSON.parse(raw.toString()) as Counters;
}

/** Keys written per op when filling a new shard object. */
const FILL_CHUNK = 5000;

/**
 * Compactions of this process: moves closed UID ranges out of index objects whose `u:` keys passed
 * their width (one range per round, in the background). Started by the commit lanes after a commit.
 */
export class Compactor {
  private readonly jobs: BackgroundJobs;
  /** Compactions that committed and that gave up on a race (for tests and the bench). */
  readonly stats = { ranges: 0, raced: 0 };

  constructor(
    private readonly lanes: CommitLanes,
    log?: { warn(o: object, msg: string): void },
  ) {
    this.jobs = new BackgroundJobs('index compaction', log);
  }

  /** Start a compaction of `oid` if its counters `c` call for one and none runs here. */
  consider(io: IoCtx, oid: string, c: Counters): void {
    const w = widthOf(c);
    if (!w || inlineCount(c) <= w) return;
    this.jobs.start(io, oid, () => this.run(io, oid));
  }

  /** Wait for the compactions started so far (tests, shutdown). */
  settle(): Promise<void> {
    return this.jobs.settle();
  }

  private async run(io: IoCtx, oid: string): Promise<void> {
    for (let round = 0; round < 64; round++) {
      const op = new ReadOp().omapGetByKeys([COUNTERS_KEY]).omapList({ prefix: UID_PREFIX, max: 1 });
      const res = await io.operateRead(oid, op);
      const c = parse((res[0] as Map<string, Buffer>).get(COUNTERS_KEY));
      const w = widthOf(c);
      const firstKey = [...(res[1] as OmapPage).entries.keys()][0];
      if (!w || inlineCount(c) <= w || !firstKey) return;
      const k = rangeOf(uidOfKey(firstKey), w);
      if (!isClosed(k, w, c.uidnext)) return; // all in the open range: nothing to move yet
      if (!(await this.compactRange(io, oid, c, k))) return;
    }
  }

  /** Move range `k` into a new shard object; false when it lost a race (tried again later). */
  private async compactRange(io: IoCtx, oid: string, c: Counters, k: number): Promise<boolean> {
    const w = widthOf(c);
    const start = k * w + 1;
    const end = (k + 1) * w;
    const inline = new Map<string, Buffer>();
    let old: string | undefined;
    let after = uidKey(start - 1);
    for (let firstPage = true; ; firstPage = false) {
      const op = new ReadOp().omapList({ prefix: UID_PREFIX, startAfter: after, max: 1000 });
      if (firstPage) op.omapGetByKeys([shardKey(k)]);
      const res = await io.operateRead(oid, op);
      if (firstPage) old = (res[1] as Map<string, Buffer>).get(shardKey(k))?.toString();
      const page = res[0] as OmapPage;
      let done = !page.more;
      for (const [key, v] of page.entries) {
        if (uidOfKey(key) > end) {
          done = true;
          break;
        }
        inline.set(key, v);
        after = key;
      }
      if (done) break;
    }
    const merged = new Map<string, Buffer>();
    if (old) {
      try {
        let from: string | undefined;
        for (;;) {
          const page = await io.omapList(old, { prefix: UID_PREFIX, startAfter: from, max: 1000 });
          for (const [key, v] of page.entries) merged.set(key, v);
          if (!page.more) break;
          from = [...page.entries.keys()].pop();
        }
      } catch (e) {
        if (e instanceof ObjectNotFound) return this.raced(); // another process compacted it
        throw e;
      }
    }
    for (const [key, v] of inline) {
      if (v.length) merged.set(key, v);
      else merged.delete(key);
    }
    const fresh = merged.size ? `${oid}.${k}.${randomBytes(6).toString('hex')}` : undefined;
    if (fresh) {
      const keys = [...merged.keys()].sort();
      for (let i = 0; i < keys.length; i += FILL_CHUNK) {
        const op = new WriteOp();
        if (i === 0) op.create(true);
        const chunk: Record<string, Buffer> = {};
        for (const key of keys.slice(i, i + FILL_CHUNK)) chunk[key] = merged.get(key)!;
        await io.operate(fresh, op.omapSet(chunk));
      }
    }
    const sk = shardKey(k);
    const gen = c.shardGen ?? 0;
    const requested = [...inline.keys(), sk];
    let ok = false;
    try {
      ok = await this.lanes.submit(io, oid, requested, (now, got) => {
        // the merged keys must be as read, the shard the same; other keys of the range written
        // since (overlays of shard entries) stay, and win over the new shard as over the old
        const same =
          (now.shardGen ?? 0) === gen &&
          now.uidvalidity === c.uidvalidity &&
          got.get(sk)?.toString() === old &&
          [...inline].every(([key, v]) => got.get(key)?.equals(v));
        if (!same) return { counters: now, set: {}, rm: [], result: false, unchanged: true };
        const counters: Counters = { ...now, inline: inlineCount(now) - inline.size, shardGen: gen + 1 };
        return {
          counters,
          set: fresh ? { [sk]: fresh } : {},
          rm: fresh || !old ? [...inline.keys()] : [...inline.keys(), sk],
          result: true,
        };
      });
    } finally {
      if (!ok && fresh) await io.remove(fresh).catch(() => undefined);
    }
    if (!ok) return this.raced();
    this.stats.ranges++;
    if (old) await io.remove(old).catch(() => undefined); // readers that still named it read `s:` again
    return true;
  }

  private raced(): boolean {
    this.stats.raced++;
    return false;
  }
}

/** Every shard object named by index object `oid` (for DELETE and checks). */
export async function shardObjects(io: IoCtx, oid: string): Promise<string[]> {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await io.omapList(oid, { prefix: SHARD_PREFIX, startAfter: after, max: 1000 });
    for (const v of page.entries.values()) out.push(v.toString());
    if (!page.more) return out;
    after = [...page.entries.keys()].pop();
  }
}
