/**
 * Issue 15 item 4: each mailbox's change log is trimmed to its last `changeLogRecords` modseqs
 * (log-trim.ts). The floor is kept in `h`, readers below it are told the log is incomplete, and a
 * shared index cache that fell behind the floor reads the mailbox whole again.
 */
import { memoryClusterPerTest, msg } from './memory-cluster.js';
import { CachedIndex, MailStore } from '../src/index.js';

const clusterOf = memoryClusterPerTest();

async function logKeys(store: MailStore, oid: string, user: string): Promise<number[]> {
  const io = (await store.user(user)).io;
  const out: number[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await io.omapList(oid, { prefix: 'l:', startAfter: after, max: 1000 });
    for (const k of page.entries.keys()) out.push(Number(k.slice(2)));
    if (!page.more) return out;
    after = [...page.entries.keys()].pop();
  }
}

test('the log keeps its last records; the floor is in h; changesSince says when it is incomplete', async () => {
  const store = await MailStore.open(clusterOf(), { changeLogRecords: 20 });
  const u = await store.user('trim');
  const inbox = await u.mailbox('INBOX');
  await inbox.append(Array.from({ length: 10 }, (_, i) => ({ data: msg(`m${i}`) })));
  const start = (await inbox.counters()).highestModseq;
  for (let i = 0; i < 300; i++)
    await inbox.store([(i % 10) + 1], Math.floor(i / 10) % 2 ? 'remove' : 'add', ['\\Seen']);
  await store.logTrimmer.settle();
  const c = await inbox.counters();
  const keys = await logKeys(store, inbox.oid, 'trim');
  expect(c.logFloor).toBeGreaterThan(start);
  // at most `keep` plus the slack before the next trim (100) remain, all above the floor
  expect(keys.length).toBeLessThanOrEqual(20 + 100 + 1);
  expect(keys.length).toBeGreaterThanOrEqual(20);
  expect(Math.min(...keys)).toBe(c.logFloor! + 1);
  expect(Math.max(...keys)).toBe(c.highestModseq);
  expect(store.logTrimmer.stats.removed).toBe(c.highestModseq - keys.length - 1);
  const old = await inbox.changesSince(start);
  expect(old.complete).toBe(false);
  const recent = await inbox.changesSince(c.highestModseq - 10);
  expect(recent.complete).toBe(true);
  expect(recent.log.map((l) => l.modseq)).toEqual(Array.from({ length: 10 }, (_, i) => c.highestModseq - 9 + i));
});

test('0 never trims', async () => {
  const store = await MailStore.open(clusterOf(), { changeLogRecords: 0 });
  const inbox = await (await store.user('keep')).mailbox('INBOX');
  await inbox.append([{ data: msg('a') }]);
  for (let i = 0; i < 250; i++) await inbox.store([1], i % 2 ? 'remove' : 'add', ['\\Flagged']);
  await store.logTrimmer.settle();
  expect((await logKeys(store, inbox.oid, 'keep')).length).toBe(251);
  expect((await inbox.counters()).logFloor).toBeUndefined();
});

test('a cache behind the floor (another process changed the mailbox) reads it whole and is exact', async () => {
  const a = await MailStore.open(clusterOf(), { changeLogRecords: 10 });
  const b = await MailStore.open(clusterOf(), { changeLogRecords: 10 });
  const boxA = await (await a.user('two')).mailbox('INBOX');
  await boxA.append(Array.from({ length: 20 }, (_, i) => ({ data: msg(`m${i}`) })));
  const cache = new CachedIndex(boxA);
  await cache.sync();
  const boxB = await (await b.user('two')).mailbox('INBOX');
  for (let i = 0; i < 200; i++) await boxB.store([(i % 20) + 1], 'replace', [`k${i}`]);
  await boxB.expunge([3, 4, 5]);
  await boxB.append([{ data: msg('late') }]);
  await b.logTrimmer.settle();
  expect((await boxB.counters()).logFloor).toBeGreaterThan(cache.modseq);
  await cache.sync();
  const truth = await boxB.entries();
  expect(cache.uids).toEqual(truth.map((e) => e.uid));
  for (const e of truth) expect(cache.entries.get(e.uid)).toEqual(e);
  expect(cache.modseq).toBe((await boxB.counters()).highestModseq);
});
