/**
 * Issue 15, O3 (library level): checkUser finds each planted defect (an orphan mail object, a
 * missing one, a wrong reference count, wrong counters, a change-log gap, an orphan shard), repair
 * fixes each, and a second check finds nothing. A clean user, busy or not, has no defect.
 */
import { WriteOp } from '@rmb/rados';
import { MailStore, checkUser, type Counters } from '../src/index.js';
import { memoryClusterPerTest, msg } from './memory-cluster.js';

const clusterOf = memoryClusterPerTest();

test('a clean user has no defect, also with shards, copies and kept expunged mail', async () => {
  const store = await MailStore.open(clusterOf(), { indexShardEntries: 3 });
  const u = await store.user('clean');
  const inbox = await u.mailbox('INBOX');
  await inbox.append(Array.from({ length: 10 }, (_, i) => ({ data: msg(`m${i}`) })));
  await inbox.store([1, 2], 'add', ['\\Seen']);
  await inbox.expunge([3]);
  await inbox.copyTo([1, 4], await u.mailbox('Archive'));
  await store.compactor.settle();
  await u.mails.settle();
  const r = await checkUser(u, { graceMs: 0 });
  expect(r.defects).toEqual([]);
  expect(r.entries).toBe(11);
  expect(r.objects).toBe(10); // 9 in INBOX (copies share), the expunged one kept for its grace period
});

test('each planted defect is found, repaired, and gone on a second check', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('broken');
  const inbox = await u.mailbox('INBOX');
  const saved = await inbox.append(Array.from({ length: 6 }, (_, i) => ({ data: msg(`m${i}`) })));
  await u.mails.settle();
  const io = u.io;
  // an orphan: a mail object written by a save that never committed
  const orphan = u.mails.prepare(msg('orphan'), { mailbox: inbox.id, flags: [], internalDate: 0, saveDate: 0 });
  await u.mails.write(orphan);
  // a missing object: UID 2's mail is gone
  await io.remove(saved[1].mail);
  // a wrong reference count
  await io.setXattr(saved[2].mail, 'rmb.rc', '7');
  // wrong counters
  const raw = (await io.omapGetByKeys(inbox.oid, ['h'])).get('h')!;
  const c = JSON.parse(raw.toString()) as Counters;
  await io.omapSet(inbox.oid, { h: JSON.stringify({ ...c, messages: c.messages + 3, unseen: 0 }) });
  // a change-log gap: UID 4 changed, its record lost
  await inbox.store([4], 'add', ['\\Flagged']);
  const top = (await inbox.counters()).highestModseq;
  await io.omapRm(inbox.oid, [`l:${String(top).padStart(16, '0')}`]);
  // an orphan shard object
  await io.operate(`${inbox.oid}.7.abcdef012345`, new WriteOp().create(true).omapSet({ 'u:0000000001': '{}' }));

  const first = await checkUser(u, { graceMs: 0 });
  expect(first.counts).toEqual({ orphanMail: 1, missingMail: 1, refcount: 1, counters: 1, logGap: 1, orphanIndex: 1 });
  const fixed = await checkUser(u, { graceMs: 0, repair: true });
  expect(fixed.defects.every((d) => d.repaired)).toBe(true);
  expect(fixed.defects.length).toBe(6);
  const again = await checkUser(u, { graceMs: 0 });
  expect(again.defects).toEqual([]);
  // what the repaired mailbox is now
  const es = await inbox.entries();
  expect(es.map((e) => e.uid)).toEqual([1, 3, 4, 5, 6]);
  const c2 = await inbox.counters();
  expect([c2.messages, c2.unseen]).toEqual([5, 5]);
  expect((await io.getXattrs(saved[2].mail)).get('rmb.rc')?.toString()).toBe('1');
  await expect(io.stat(orphan.oid)).rejects.toThrow();
  expect((await inbox.changesSince(top - 1)).complete).toBe(false);
});

test('young objects are never orphans (a save in flight)', async () => {
  const store = await MailStore.open(clusterOf());
  const u = await store.user('young');
  const p = u.mails.prepare(msg('in flight'), { mailbox: 'x', flags: [], internalDate: 0, saveDate: 0 });
  await u.mails.write(p);
  const r = await checkUser(u, { graceMs: 60_000, repair: true });
  expect(r.counts.orphanMail).toBe(0);
  await expect(u.io.stat(p.oid)).resolves.toBeDefined();
});
