/**
 * The per-process shared index cache (issue 14 item 3, ADR 0018): a second reader of a mailbox
 * is brought up to date from the change log instead of reading every entry; changes made
 * through other handles (other sessions, other processes) arrive by sync; entries expunged
 * elsewhere stay readable until every reader has taken the expunge; idle caches are bounded.
 */
import { memoryClusterPerTest, msg } from './memory-cluster.js';
import {
  IndexCaches,
  MailStore,
  indexOfSorted,
  layout,
  logKey,
  lowerBound,
  removeSorted,
  uidKey,
} from '../src/index.js';

const clusterOf = memoryClusterPerTest();

test('binary searches', () => {
  const a = [2, 4, 6, 8];
  expect([0, 2, 3, 8, 9].map((x) => lowerBound(a, x))).toEqual([0, 0, 1, 3, 4]);
  expect([2, 3, 8, 9].map((x) => indexOfSorted(a, x))).toEqual([0, -1, 3, -1]);
  const few = [1, 2, 3, 5, 8, 13];
  removeSorted(few, new Set([2, 13, 4]));
  expect(few).toEqual([1, 3, 5, 8]);
  const many = Array.from({ length: 200 }, (_, i) => i + 1);
  removeSorted(many, new Set(Array.from({ length: 100 }, (_, i) => 2 * i + 2)));
  expect(many).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 1));
});

test('a warm cache syncs with one read, whatever the mailbox size', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('big');
  const inbox = await u.mailbox('INBOX');
  for (let i = 0; i < 30; i++) await inbox.append(Array.from({ length: 100 }, (_, k) => ({ data: msg(`m${i}.${k}`) })));
  const caches = new IndexCaches(10_000);
  const c = caches.of(inbox);
  clusterOf().stats.reset();
  await c.sync(inbox);
  const cold = clusterOf().stats.reads;
  expect(c.uids.length).toBe(3000);
  expect(cold).toBeGreaterThanOrEqual(3); // 3,000 entries: pages of 1,000
  const again = await u.mailbox('INBOX');
  clusterOf().stats.reset();
  await c.sync(again);
  expect(clusterOf().stats.reads).toBe(1);
  // another handle's changes arrive by sync: 2 new, 1 flagged, 2 expunged
  const other = await u.mailbox('INBOX');
  await other.append([{ data: msg('new1') }, { data: msg('new2') }]);
  await other.store([5], 'add', ['\\Seen', 'Work']);
  await other.expunge([1, 2]);
  const reader = { modseq: c.modseq };
  caches.attach(c, reader);
  await c.sync();
  expect(c.uids.length).toBe(3000);
  expect(c.uids[0]).toBe(3);
  expect(c.uids[c.uids.length - 1]).toBe(3002);
  expect(c.entries.get(5)!.flags).toEqual(['\\Seen', 'Work']);
  expect(c.keywords.get('work')).toBe('Work');
  expect(c.logSince(reader.modseq)!.map((l) => l.kind)).toEqual(['append', 'flags', 'expunge']);
  // the expunged stay readable for the reader that has not taken the expunge
  expect(c.entry(1)?.uid).toBe(1);
  expect(c.entries.has(1)).toBe(false);
  (reader as { modseq: number }).modseq = c.modseq;
  c.trim();
  expect(c.entry(1)).toBeUndefined();
  expect(c.firstUnseenUid()).toBe(3);
  // \Deleted is tracked as it changes: EXPUNGE finds its targets without a scan
  await other.store([7, 9], 'add', ['\\Deleted']);
  await c.sync();
  expect([...c.deleted].sort()).toEqual([7, 9]);
  await other.store([9], 'remove', ['\\Deleted']);
  await other.expunge([7]);
  await c.sync();
  expect([...c.deleted]).toEqual([]);
  caches.detach(c, reader);
});

test('concurrent syncs share reads, and one asked for during a read gets a later read', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('conc');
  const inbox = await u.mailbox('INBOX');
  await inbox.append([{ data: msg('a') }]);
  const c = new IndexCaches(100).of(inbox);
  await c.sync(inbox);
  await inbox.append([{ data: msg('b') }]);
  clusterOf().stats.reset();
  const first = c.sync();
  const second = c.sync();
  const third = c.sync();
  expect(second).toBe(third);
  await Promise.all([first, second, third]);
  expect(c.uids).toEqual([1, 2]);
  // the first: the log and the new entry; the two asked for during it: one later read of the log
  expect(clusterOf().stats.reads).toBe(3);
});

test('idle caches beyond the bound are dropped, least recently used first; caches with readers stay', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('lru');
  await u.createMailbox('A');
  await u.createMailbox('B');
  const a = await u.mailbox('A');
  const b = await u.mailbox('B');
  await a.append(Array.from({ length: 60 }, (_, i) => ({ data: msg(`a${i}`) })));
  await b.append(Array.from({ length: 60 }, (_, i) => ({ data: msg(`b${i}`) })));
  const caches = new IndexCaches(100);
  const ra = { modseq: 0 };
  const rb = { modseq: 0 };
  const ca = caches.of(a);
  caches.attach(ca, ra);
  await ca.sync();
  const cb = caches.of(b);
  caches.attach(cb, rb);
  await cb.sync();
  expect(caches.messages).toBe(120);
  caches.detach(ca, ra); // idle: 60 <= 100, kept
  expect(caches.of(a)).toBe(ca);
  caches.detach(cb, rb); // idle: 120 > 100, the older (A) goes
  expect(caches.of(b)).toBe(cb);
  expect(caches.of(a)).not.toBe(ca);
});

test('a mailbox of 140,000 messages loads whole and through its log (no spread of a whole mailbox)', async () => {
  // a spread of a whole mailbox into push() overflowed the stack past ~120,000 entries: SELECT of
  // a mailbox of a million messages failed with an internal error
  const store = await MailStore.open(clusterOf());
  const u = await store.user('huge');
  const inbox = await u.mailbox('INBOX');
  const caches = new IndexCaches(0);
  const early = caches.of(inbox);
  await early.sync(inbox);
  const reader = { modseq: early.modseq };
  caches.attach(early, reader);
  const N = 140_000;
  // what 140,000 deliveries leave in the index object, written straight into it
  for (let i = 0; i < N; i += 20_000) {
    const set: Record<string, string> = {};
    for (let uid = i + 1; uid <= Math.min(N, i + 20_000); uid++) {
      const e = { uid, mail: `m.${uid}`, flags: [], modseq: uid + 1, internalDate: 0, size: 1, saveDate: 0 };
      set[uidKey(uid)] = JSON.stringify(e);
      set[logKey(uid + 1)] = JSON.stringify({ modseq: uid + 1, kind: 'append', uids: [uid] });
    }
    await inbox.io.omapSet(inbox.oid, set);
  }
  const c = await inbox.counters();
  const h = { ...c, uidnext: N + 1, messages: N, bytes: N, highestModseq: N + 1 };
  await inbox.io.omapSet(inbox.oid, { [layout.COUNTERS_KEY]: JSON.stringify(h) });
  expect((await inbox.snapshot()).entries.length).toBe(N);
  const cold = new IndexCaches(0).of(inbox);
  await cold.sync(inbox);
  expect(cold.uids.length).toBe(N);
  // the cache that knew the mailbox empty catches up through a log of 140,000 records
  await early.sync(inbox);
  expect(early.uids.length).toBe(N);
  // it keeps the last 20,000 records; a reader older than them reads the log from the store
  expect(early.logSince(reader.modseq)).toBeUndefined();
  expect(early.logSince(N + 1 - 20_000)?.length).toBe(20_000);
  caches.detach(early, reader);
}, 120_000);
