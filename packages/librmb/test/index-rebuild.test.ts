/**
 * Issue 15, O4 (library level): a mailbox whose index object is deleted is rebuilt from its mail
 * objects with the same UIDVALIDITY, UIDs, flags, keywords, INTERNALDATEs and modseqs (ADR 0021),
 * also for messages shared with another mailbox by COPY, expunged ones staying gone, and a save
 * whose reference was never written coming back under a new UID.
 */
import { WriteOp } from '@rmb/rados';
import { MailStore, rebuildIndex, type IndexEntry } from '../src/index.js';
import { memoryClusterPerTest, msg } from './memory-cluster.js';

const clusterOf = memoryClusterPerTest();

const view = (es: IndexEntry[]) =>
  es.map((e) => ({
    uid: e.uid,
    flags: [...e.flags].sort(),
    internalDate: e.internalDate,
    modseq: e.modseq,
    mail: e.mail,
  }));

test('delete the index object, rebuild it: the same mailbox', async () => {
  const store = await MailStore.open(clusterOf(), { indexShardEntries: 4 });
  const u = await store.user('rb');
  const inbox = await u.mailbox('INBOX');
  const t0 = Date.UTC(2020, 0, 1);
  await inbox.append(
    Array.from({ length: 12 }, (_, i) => ({
      data: msg(`m${i}`),
      internalDate: t0 + i * 86_400_000,
      flags: i % 3 ? ['\\Seen'] : ['$Label1'],
    })),
  );
  await inbox.store([2, 3, 4], 'add', ['\\Flagged', 'Work']);
  await inbox.store([3], 'remove', ['\\Seen']);
  await inbox.store([5], 'replace', ['\\Answered', 'Done']);
  await inbox.expunge([6, 7]);
  await u.createMailbox('Keep');
  const keep = await u.mailbox('Keep');
  await inbox.copyTo([1, 2, 3], keep);
  await keep.store([2], 'add', ['\\Deleted']);
  await store.compactor.settle();
  await u.mails.settle();
  const before = await inbox.entries();
  const c0 = await inbox.counters();
  const keepBefore = await keep.entries();

  // the index object is lost
  await u.io.remove(inbox.oid);
  await expect(inbox.counters()).rejects.toThrow();
  const report = await rebuildIndex(u, 'INBOX', 0);
  expect(report.messages).toBe(10);
  expect(report.recovered).toBe(0);
  const after = await inbox.entries();
  expect(view(after)).toEqual(view(before));
  const c1 = await inbox.counters();
  expect(c1.uidvalidity).toBe(c0.uidvalidity);
  // UIDNEXT and HIGHESTMODSEQ at least what clients saw: the reserve kept beside the index (reserve.ts)
  expect(c1.uidnext).toBeGreaterThanOrEqual(c0.uidnext);
  expect(c1.highestModseq).toBeGreaterThan(c0.highestModseq);
  expect(c1.messages).toBe(c0.messages);
  expect(c1.unseen).toBe(c0.unseen);
  expect(c1.logFloor).toBe(c1.highestModseq);
  // the other mailbox sharing objects is untouched
  expect(view(await keep.entries())).toEqual(view(keepBefore));
  // and the rebuilt mailbox goes on: a new message gets the next UID
  const [s] = await inbox.append([{ data: msg('after') }]);
  expect(s.uid).toBe(c1.uidnext);
});

test('a committed save whose reference write was lost comes back under a new UID', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('rb2');
  const inbox = await u.mailbox('INBOX');
  const saved = await inbox.append([{ data: msg('a') }, { data: msg('b'), flags: ['\\Seen'] }]);
  await u.mails.settle();
  // as if the process died before the background write: b's reference is missing
  const x = await u.io.getXattrs(saved[1].mail);
  const refs = [...x.keys()].filter((k) => k.startsWith('rmb.r.'));
  expect(refs.length).toBe(1);
  await u.io.operate(saved[1].mail, new WriteOp().rmXattr(refs[0]));
  await u.io.remove(inbox.oid);
  const r = await rebuildIndex(u, 'INBOX', 0);
  expect(r.recovered).toBe(1);
  const es = await inbox.entries();
  expect(es.map((e) => [e.uid, e.mail, e.flags])).toEqual([
    [saved[0].uid, saved[0].mail, []],
    // UIDNEXT is gone with the index: the reserve's (above any UID given out)
    [2000, saved[1].mail, ['\\Seen']],
  ]);
  // its reference is written now: a second rebuild gives the same
  await u.io.remove(inbox.oid);
  const again = await rebuildIndex(u, 'INBOX', 0);
  expect(again.recovered).toBe(0);
  expect((await inbox.entries()).map((e) => e.uid)).toEqual([1, 2000]);
});
