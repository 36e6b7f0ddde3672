/**
 * Routes per user (issue 13 groundwork): local by default, a default route for users without
 * one, a guarded change that records its history, and a flip made through one front end seen by
 * another at once (notify drops the cache) or within the cache time.
 */
import { connect, type Cluster } from '@rmb/rados';
import { MailStore, RouteTable } from '../src/index.js';

let cluster: Cluster;
beforeEach(async () => {
  cluster = await connect({ backend: 'memory' });
});
afterEach(() => cluster.close());

const old = { imap: 'imap://old.example:143', delivery: 'lmtp://old.example:24' };

test('local by default; own routes, the default route, history, and a guarded flip', async () => {
  const store = await MailStore.open(cluster);
  const routes = store.routes;
  expect(await routes.get('alice')).toMatchObject({ state: 'local' });
  await expect(routes.set('alice', { state: 'source' }, 'no server')).rejects.toThrow(/needs the old server/);
  await routes.set(null, { state: 'source', source: old }, 'the domain moves');
  expect(await routes.get('alice')).toMatchObject({ state: 'source', source: old });
  await routes.set('alice', { state: 'frozen', source: old }, 'cut-over');
  expect(await routes.get('alice')).toMatchObject({ state: 'frozen' });
  expect(await routes.get('bob')).toMatchObject({ state: 'source' });
  // a flip that expects another state changes nothing
  await expect(routes.set('alice', { state: 'local' }, 'done', 'source')).rejects.toThrow(/is frozen, not source/);
  await routes.set('alice', { state: 'local', source: old }, 'done', 'frozen');
  expect((await routes.history('alice')).map((h) => [h.from, h.to, h.reason])).toEqual([
    [null, 'frozen', 'cut-over'],
    ['frozen', 'local', 'done'],
  ]);
  expect((await routes.history(null)).map((h) => h.to)).toEqual(['source']);
});

test('a flip through one front end is seen by another: at once by notify, else within the cache time', async () => {
  const a = await MailStore.open(cluster);
  const b = await MailStore.open(cluster);
  // (a table that exists: a watch needs the object, so the first route ever set is seen by the cache time)
  await a.routes.set('someone', { state: 'local' }, 'first route');
  expect(await b.routes.get('carol')).toMatchObject({ state: 'local' });
  await new Promise((r) => setTimeout(r, 20)); // the watch is set up in the background
  const cached = b.routes.cacheMs;
  expect(cached).toBeGreaterThan(20);
  await a.routes.set('carol', { state: 'source', source: old }, 'not yet moved');
  // the notification arrives asynchronously (on Ceph from another node): well within the cache time
  await new Promise((r) => setTimeout(r, 20));
  expect(await b.routes.get('carol')).toMatchObject({ state: 'source' });
  // a table that cannot be told (no watch): the cache time bounds the staleness
  const io = await cluster.ioCtx('mail', '');
  const blind = new RouteTable(
    Object.assign(Object.create(io) as typeof io, { watch: () => Promise.reject(new Error('no')) }),
    100,
  );
  expect(await blind.get('carol')).toMatchObject({ state: 'source' });
  await a.routes.set('carol', { state: 'local', source: old }, 'moved');
  await new Promise((r) => setTimeout(r, 150));
  expect(await blind.get('carol')).toMatchObject({ state: 'local' });
});
