/**
 * The sharded user directory (issue 14, user-directory.ts): the shard count fixed at first use,
 * concurrent creations agreeing on one id, a pre-sharding directory still read, bulk provisioning,
 * and 1,000,000 users created and looked up on the embedded store with no shard far above its share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, WriteOp, type Cluster } from '@rmb/rados';
import { seededRandom } from '@rmb/rados/testing';
import { MailStore, UserDirectory, USERDIR_OID } from '../src/index.js';

let cluster: Cluster | undefined;
let closeLater: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test('the shard count is fixed by the first user of a store; a later setting does not move users', async () => {
  cluster = await connect({ backend: 'memory' });
  const a = await MailStore.open(cluster, { userShards: 8 });
  await a.user('alice');
  const b = await MailStore.open(cluster, { userShards: 32 });
  expect(await b.directory.shards()).toBe(8);
  expect(await b.userId('alice')).toBe(await a.userId('alice'));
  const root = await cluster.ioCtx('mail');
  expect((await root.omapGetByKeys(USERDIR_OID, ['shards'])).get('shards')?.toString()).toBe('8');
  // alice sits in exactly one of the 8 shard objects
  const holders = [];
  for (let k = 0; k < 8; k++) {
    const got = await root.omapGetByKeys(`users.${k}`, ['alice']).catch(() => new Map());
    if (got.size) holders.push(k);
  }
  expect(holders).toHaveLength(1);
});

test('concurrent first logins of one user agree on one id; of many users, none is lost', async () => {
  const c = (cluster = await connect({ backend: 'memory' }));
  const stores = await Promise.all(Array.from({ length: 4 }, () => MailStore.open(c, { userShards: 4 })));
  const ids = await Promise.all(stores.flatMap((s) => [s.user('bob'), s.user('bob')]).map(async (u) => (await u).id));
  expect(new Set(ids).size).toBe(1);
  const names = Array.from({ length: 40 }, (_, i) => `user${i}`);
  await Promise.all(names.map((n, i) => stores[i % 4].user(n)));
  expect(await stores[0].users()).toEqual(['bob', ...names].sort());
});

test('a store made before sharding: its single directory object is still read, new users go to shards', async () => {
  cluster = await connect({ backend: 'memory' });
  const root = await cluster.ioCtx('mail');
  await root.operate('users', new WriteOp().create(false).omapSet({ olduser: 'id-of-olduser' }));
  const s = await MailStore.open(cluster, { userShards: 4 });
  expect(await s.userId('olduser')).toBe('id-of-olduser');
  await s.user('newuser');
  expect((await root.omapGetByKeys('users', ['newuser'])).size).toBe(0);
  expect(await s.users()).toEqual(['newuser', 'olduser']);
});

test('1,000,000 users provisioned and looked up on the embedded store; shards stay even', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rmb-users-'));
  try {
    const c = await connect({ backend: 'embedded', path: dir });
    closeLater = c;
    const d = new UserDirectory(await c.ioCtx('mail'), 64);
    const N = 1_000_000;
    const BATCH = 50_000;
    const idOf = (i: number) => `id-${i.toString(36)}`;
    const nameOf = (i: number) => `user${i}@example.org`;
    for (let i = 0; i < N; i += BATCH) {
      const batch = new Map<string, string>();
      for (let k = i; k < Math.min(N, i + BATCH); k++) batch.set(nameOf(k), idOf(k));
      const made = await d.provision(batch);
      expect(made.size).toBe(batch.size);
    }
    const rnd = seededRandom(7);
    for (let k = 0; k < 10_000; k++) {
      const i = Math.floor(rnd() * N);
      expect(await d.lookup(nameOf(i))).toBe(idOf(i));
    }
    expect(await d.lookup('nobody@example.org')).toBeNull();
    // provisioning again keeps every id
    const again = await d.provision(
      new Map([
        [nameOf(5), 'other'],
        ['fresh@example.org', 'id-fresh'],
      ]),
    );
    expect(again.get(nameOf(5))).toBe(idOf(5));
    expect(again.get('fresh@example.org')).toBe('id-fresh');
    const sizes = [...(await d.shardSizes()).values()];
    expect(sizes).toHaveLength(64);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(N + 1);
    // each shard near its share (1/64 of the users): well under Ceph's 200,000 keys per object
    expect(Math.max(...sizes)).toBeLessThan((N / 64) * 1.05);
    expect(Math.min(...sizes)).toBeGreaterThan((N / 64) * 0.95);
  } finally {
    await closeLater?.close();
    closeLater = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}, 300000);
