/**
 * A mailbox index sharded over several objects (issue 14 S3, index-shards.ts, ADR 0020): closed UID
 * ranges move into shard objects, changes to their messages land as overlays and tombstones in the
 * index object, compactions merge them, and every read sees one mailbox, also while two stores
 * (two processes: their own lanes and compactors) change it at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect, type Cluster, type IoCtx } from '@rmb/rados';
import { cephFromEnv, cephSuite } from '@rmb/rados/testing';
import {
  MailStore,
  SHARD_PREFIX,
  type Counters,
  type IndexEntry,
  type Mailbox,
  type MailStoreOptions,
} from '../src/index.js';

let cluster: Cluster;
let dir: string | undefined;
afterEach(async () => {
  await cluster.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const msg = (s: string) => Buffer.from(`Subject: ${s}\r\n\r\n${s}\r\n`);

/** The index object's keys by kind, read directly. */
async function layoutOf(io: IoCtx, oid: string): Promise<{ u: number; s: string[]; h: Counters }> {
  let u = 0;
  const s: string[] = [];
  let after: string | undefined;
  let h: Counters | undefined;
  for (;;) {
    const page = await io.omapList(oid, { startAfter: after, max: 1000 });
    for (const [k, v] of page.entries) {
      if (k.startsWith('u:')) u++;
      if (k.startsWith(SHARD_PREFIX)) s.push(v.toString());
      if (k === 'h') h = JSON.parse(v.toString()) as Counters;
    }
    if (!page.more) break;
    after = [...page.entries.keys()].pop();
  }
  return { u, s, h: h! };
}

/** The invariants of a sharded index: `inline` counts the index object's keys, counters match the entries. */
async function checkInvariants(mb: Mailbox, io: IoCtx): Promise<IndexEntry[]> {
  const entries = await mb.entries();
  const { u, h } = await layoutOf(io, mb.oid);
  expect(h.inline ?? h.messages).toBe(u);
  expect(h.messages).toBe(entries.length);
  expect(h.unseen).toBe(entries.filter((e) => !e.flags.includes('\\Seen')).length);
  expect(h.bytes).toBe(entries.reduce((n, e) => n + e.size, 0));
  const uids = entries.map((e) => e.uid);
  expect(uids).toEqual([...uids].sort((a, b) => a - b));
  expect(new Set(uids).size).toBe(uids.length);
  for (const e of entries) expect(e.modseq).toBeLessThanOrEqual(h.highestModseq);
  const snap = await mb.snapshot();
  expect(snap.entries).toEqual(entries);
  expect((await mb.entriesByUid(uids)).map((e) => e.uid)).toEqual(uids);
  return entries;
}

const ceph = cephFromEnv();
describe.each(['memory', 'embedded'] as const)('on the %s store', (backend) => shardTests(backend));
cephSuite('a sharded index on Ceph', () => shardTests('librados'));

function shardTests(backend: 'memory' | 'embedded' | 'librados'): void {
  beforeEach(async () => {
    if (backend === 'embedded') dir = mkdtempSync(join(tmpdir(), 'rmb-shards-'));
    cluster = await connect(
      backend === 'embedded' ? { backend, path: dir! } : backend === 'librados' ? ceph! : { backend },
    );
  });
  // a namespace of its own per test (a Ceph pool outlives the test); both stores of a test share it
  let namespace = '';
  beforeEach(() => {
    namespace = `shards-${randomUUID()}.`;
  });
  const open = (o: MailStoreOptions) => MailStore.open(cluster, { ...o, pool: ceph?.pool ?? 'mail', namespace });

  test('closed ranges move into shard objects; STORE, EXPUNGE, COPY and reads see one mailbox', async () => {
    const store = await open({ indexShardEntries: 4 });
    const u = await store.user('shard');
    const inbox = await u.mailbox('INBOX');
    for (let i = 0; i < 10; i++) await inbox.append([{ data: msg(`a${i}`) }, { data: msg(`b${i}`) }]);
    await store.compactor.settle();
    let lay = await layoutOf(u.io, inbox.oid);
    // 20 UIDs, width 4: ranges 0..3 closed, range 4 (17..20) open; at most the open range is inline
    expect(lay.s.length).toBeGreaterThanOrEqual(3);
    expect(lay.u).toBeLessThanOrEqual(8);
    expect(store.compactor.stats.ranges).toBeGreaterThanOrEqual(3);
    let entries = await checkInvariants(inbox, u.io);
    expect(entries.map((e) => e.uid)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // changes to messages in shard objects: overlays and tombstones in the index object
    const st = await inbox.store([1, 2, 6, 19], 'add', ['\\Seen', 'kw']);
    expect(st.changed.map((e) => e.uid)).toEqual([1, 2, 6, 19]);
    expect(await inbox.expunge([3, 7, 8, 20])).toEqual([3, 7, 8, 20]);
    entries = await checkInvariants(inbox, u.io);
    expect(entries.map((e) => e.uid)).toEqual([1, 2, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    for (const uid of [1, 2, 6, 19]) expect(entries.find((e) => e.uid === uid)!.flags).toEqual(['\\Seen', 'kw']);
    // an expunged entry of a shard stays gone for a second expunge and a STORE
    expect(await inbox.expunge([3])).toEqual([]);
    expect((await inbox.store([3], 'add', ['\\Flagged'])).changed).toEqual([]);

    // COPY from shard objects
    const archive = await u.createMailbox('Keep').then(() => u.mailbox('Keep'));
    const copied = await inbox.copyTo([1, 2, 4, 5, 6], archive);
    expect(copied.pairs.map((p) => p[0])).toEqual([1, 2, 4, 5, 6]);
    expect((await archive.entries()).map((e) => e.flags)).toEqual([
      ['\\Seen', 'kw'],
      ['\\Seen', 'kw'],
      [],
      [],
      ['\\Seen', 'kw'],
    ]);

    // more mail: the overlays pass the width, a compaction merges them into new shard objects
    for (let i = 0; i < 6; i++) await inbox.append([{ data: msg(`c${i}`) }]);
    await inbox.store([1, 4, 5, 9, 10, 11], 'add', ['\\Answered']);
    await store.compactor.settle();
    lay = await layoutOf(u.io, inbox.oid);
    expect(lay.u).toBeLessThanOrEqual(8);
    entries = await checkInvariants(inbox, u.io);
    expect(entries.length).toBe(22);
    expect(entries.find((e) => e.uid === 1)!.flags).toEqual(['\\Seen', 'kw', '\\Answered']);
    expect(entries.find((e) => e.uid === 3)).toBeUndefined();
    // recent counting and walking from the middle of a shard
    expect((await inbox.entries(10)).map((e) => e.uid)[0]).toBe(10);
    const pages: number[][] = [];
    for await (const p of inbox.entryPages(2, 3)) pages.push(p.map((e) => e.uid));
    expect(pages.flat()).toEqual(entries.filter((e) => e.uid >= 2).map((e) => e.uid));
    expect(Math.max(...pages.map((p) => p.length))).toBeLessThanOrEqual(3);

    // the old shard objects are gone; DELETE removes the rest
    const shards = await inbox.shardObjects();
    expect(shards.length).toBeGreaterThan(0);
    const other = await u.createMailbox('Doomed').then(() => u.mailbox('Doomed'));
    await inbox.copyTo(
      entries.map((e) => e.uid),
      other,
    );
    await store.compactor.settle();
    const doomed = await other.shardObjects();
    expect(doomed.length).toBeGreaterThan(0);
    await u.deleteMailbox('Doomed');
    for (const oid of doomed) await expect(u.io.stat(oid)).rejects.toThrow();
  });

  test('width 0 never shards; the index keeps every key as before', async () => {
    const store = await open({ indexShardEntries: 0 });
    const u = await store.user('flat');
    const inbox = await u.mailbox('INBOX');
    for (let i = 0; i < 5; i++) await inbox.append(Array.from({ length: 5 }, (_, j) => ({ data: msg(`${i}.${j}`) })));
    await store.compactor.settle();
    const lay = await layoutOf(u.io, inbox.oid);
    expect(lay.s).toEqual([]);
    expect(lay.u).toBe(25);
    expect(lay.h.shardWidth).toBe(0);
  });

  test('two stores (two processes) change a sharded mailbox at once: the state is exact', async () => {
    const a = await open({ indexShardEntries: 5 });
    const b = await open({ indexShardEntries: 5 });
    const ua = await a.user('race');
    const ub = await b.user('race');
    const boxes = [await ua.mailbox('INBOX'), await ub.mailbox('INBOX')];
    await boxes[0].append(Array.from({ length: 40 }, (_, i) => ({ data: msg(`seed${i}`) })));
    // each writer owns the UIDs it appends and half of the seed; flags are set by `replace`, so each
    // UID's last flags are its owner's last STORE
    const model = new Map<number, string[]>();
    for (let uid = 1; uid <= 40; uid++) model.set(uid, []);
    const owned: number[][] = [
      Array.from({ length: 20 }, (_, i) => 2 * i + 1),
      Array.from({ length: 20 }, (_, i) => 2 * i + 2),
    ];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    await Promise.all(
      [0, 1].map(async (w) => {
        const mb = boxes[w];
        for (let i = 0; i < 60; i++) {
          const mine = owned[w];
          const r = rnd(10);
          if (r < 3) {
            const saved = await mb.append([{ data: msg(`w${w}.${i}`) }]);
            for (const s of saved) {
              mine.push(s.uid);
              model.set(s.uid, []);
            }
          } else if (r < 8 && mine.length) {
            const pick = [...new Set([mine[rnd(mine.length)], mine[rnd(mine.length)]])];
            const flags = [`w${w}i${i}`, ...(r % 2 ? ['\\Seen'] : [])];
            await mb.store(pick, 'replace', flags);
            for (const uid of pick) model.set(uid, flags);
          } else if (mine.length) {
            const uid = mine.splice(rnd(mine.length), 1)[0];
            expect(await mb.expunge([uid])).toEqual([uid]);
            model.delete(uid);
          }
        }
      }),
    );
    await a.compactor.settle();
    await b.compactor.settle();
    expect(a.compactor.stats.ranges + b.compactor.stats.ranges).toBeGreaterThan(2);
    for (const mb of boxes) {
      const entries = await checkInvariants(mb, mb.io);
      expect(new Map(entries.map((e) => [e.uid, e.flags]))).toEqual(model);
    }
    const lay = await layoutOf(ua.io, boxes[0].oid);
    expect(lay.s.length).toBeGreaterThan(2);
  });
}
