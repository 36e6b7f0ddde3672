/**
 * Group commit per mailbox (issue 14 item 2, commit-lane.ts): concurrent index changes of one
 * process are planned together and written in fewer guarded ops than changes, none is lost, no
 * retry happens inside one process, and a change that fails does not fail the others.
 */
import { memoryClusterPerTest, msg } from './memory-cluster.js';
import { MailStore, NotAllowed, laneStats } from '../src/index.js';

const clusterOf = memoryClusterPerTest();

test('50 concurrent STOREs and EXPUNGEs from 50 handles: all applied, fewer commits, no retry', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('lane');
  const inbox = await u.mailbox('INBOX');
  await inbox.append(Array.from({ length: 60 }, (_, i) => ({ data: msg(`m${i}`) })));
  const handles = await Promise.all(Array.from({ length: 60 }, () => u.mailbox('INBOX')));
  const before = { ...laneStats };
  const results = await Promise.all(
    handles.map((h, i) =>
      i < 50 ? h.store([i + 1], 'add', [`kw${i}`, '\\Seen']) : h.expunge([i + 1]).then(() => undefined),
    ),
  );
  const commits = laneStats.commits - before.commits;
  expect(laneStats.changes - before.changes).toBe(60);
  expect(commits).toBeLessThan(60);
  expect(laneStats.retries - before.retries).toBe(0);
  const entries = await inbox.entries();
  expect(entries.map((e) => e.uid)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  for (const e of entries) expect(e.flags).toEqual([`kw${e.uid - 1}`, '\\Seen']);
  // every change got its own modseq, and the counters agree with the entries
  const c = await inbox.counters();
  expect(c.messages).toBe(50);
  expect(new Set(entries.map((e) => e.modseq)).size).toBe(50);
  expect(results.filter(Boolean).length).toBe(50);
});

test('a change whose plan fails does not fail the changes committed with it', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('lane2');
  const inbox = await u.mailbox('INBOX');
  await inbox.append([{ data: msg('a') }, { data: msg('b') }]);
  const before = { ...laneStats };
  // one change in flight; the next two wait and are planned together: a UIDVALIDITY reset of a
  // mailbox that has held mail (refused inside its plan) and a STORE
  const first = inbox.store([2], 'add', ['\\Answered']);
  const bad = inbox.resetUidvalidity(42);
  const good = inbox.store([1], 'add', ['\\Flagged']);
  const [f, b, g] = await Promise.allSettled([first, bad, good]);
  expect([f.status, b.status, g.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((b as PromiseRejectedResult).reason).toBeInstanceOf(NotAllowed);
  expect(laneStats.commits - before.commits).toBe(2);
  expect((await inbox.entriesByUid([1, 2])).map((e) => e.flags)).toEqual([['\\Flagged'], ['\\Answered']]);
  expect((await inbox.counters()).uidvalidity).not.toBe(42);
});
