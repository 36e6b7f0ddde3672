/**
 * The mailbox list at scale (issue 14, item 5): CREATE and DELETE read only the keys they need, so
 * their round trips do not grow with the number of mailboxes; the per-user mailbox cap answers
 * LimitExceeded ([LIMIT] in IMAP); the mailbox counter stays equal to the list through CREATE,
 * DELETE, RENAME and the defaults, and a list made before the counter is counted once.
 */
import { connect, type Cluster } from '@rmb/rados';
import { LimitExceeded, MailStore, layout } from '../src/index.js';

let cluster: Cluster;
beforeEach(async () => {
  cluster = await connect({ backend: 'memory' });
});
afterEach(async () => {
  await cluster.close();
});

/** Store reads and writes that `fn` makes. */
async function ops(fn: () => Promise<unknown>): Promise<{ reads: number; writes: number }> {
  cluster.stats.reset();
  await fn();
  return { reads: cluster.stats.reads, writes: cluster.stats.writes };
}

/** The list's counter and the number of mailboxes listed. */
async function counted(store: MailStore, user: string): Promise<[number, number]> {
  const u = await store.user(user);
  const got = await u.io.omapGetByKeys(layout.MAILBOXES_OID, [layout.COUNT_KEY]);
  return [Number(got.get(layout.COUNT_KEY)?.toString()), (await u.mailboxes()).length];
}

test('CREATE and DELETE cost the same round trips with 10 and with 5,000 mailboxes', async () => {
  const store = await MailStore.open(cluster, { maxMailboxes: 100000 });
  const u = await store.user('many');
  const small = await ops(() => u.createMailbox('Probe-small'));
  const delSmall = await ops(() => u.deleteMailbox('Probe-small'));
  for (let i = 0; i < 5000; i++) await u.createMailbox(`Archive/${2000 + Math.floor(i / 12)}/${i % 12}`);
  const big = await ops(() => u.createMailbox('Probe-big'));
  const delBig = await ops(() => u.deleteMailbox('Probe-big'));
  expect(big).toEqual(small);
  expect(delBig).toEqual(delSmall);
  // 6 defaults (Archive among them), 417 year parents, 5,000 months
  expect(await counted(store, 'many')).toEqual([5423, 5423]);
});

test('the per-user mailbox cap: CREATE beyond it is refused with LimitExceeded, nothing half-made', async () => {
  const store = await MailStore.open(cluster, { maxMailboxes: 10 });
  const u = await store.user('capped');
  await u.createMailbox('a');
  await u.createMailbox('b');
  await u.createMailbox('c');
  await u.createMailbox('d'); // 6 defaults + 4 = 10
  await expect(u.createMailbox('e')).rejects.toBeInstanceOf(LimitExceeded);
  // parents count too
  await u.deleteMailbox('d');
  await expect(u.createMailbox('x/y')).rejects.toBeInstanceOf(LimitExceeded);
  expect((await u.mailboxes()).map((b) => b.name)).not.toContain('x');
  await u.createMailbox('e');
  expect(await counted(store, 'capped')).toEqual([10, 10]);
});

test('the counter follows RENAME (parents made, INBOX renamed) and a list without it is counted', async () => {
  const store = await MailStore.open(cluster);
  const u = await store.user('mover');
  await u.createMailbox('Work');
  await u.renameMailbox('Work', 'Old/Years/Work'); // two parents made
  expect(await counted(store, 'mover')).toEqual([9, 9]);
  await u.renameMailbox('INBOX', 'Saved'); // a fresh INBOX appears
  expect(await counted(store, 'mover')).toEqual([10, 10]);
  // a list made before the counter existed
  await u.io.omapRm(layout.MAILBOXES_OID, [layout.COUNT_KEY]);
  await u.createMailbox('Later');
  expect(await counted(store, 'mover')).toEqual([11, 11]);
});
