/**
 * The sync engine, the state and the verifier on the memory store with an in-memory source
 * (mem-source.ts): fidelity, deltas, renames, UIDVALIDITY changes, blocked users, a refused FETCH,
 * a crash between writing objects and the index commit, leases, the verifier's categories.
 */
import { jest } from '@jest/globals';
import { connect, type Cluster, type IoCtx, WriteOp } from '@rmb/rados';
import { MailStore, layout } from '@rmb/librmb';
import {
  DEFAULT_SYNC,
  HostBudget,
  MigrationState,
  Runner,
  Throttle,
  UserSync,
  collect,
  countByStatus,
  cutover,
  differenceCount,
  formatReport,
  summarize,
  verifyUser,
  type UserRow,
} from '../src/index.js';
import { MemSource } from './mem-source.js';

let cluster: Cluster;
let store: MailStore;
let state: MigrationState;
let n = 0;

beforeEach(async () => {
  cluster = await connect({ backend: 'memory' });
  const ns = `t${n++}.`;
  store = await MailStore.open(cluster, { namespace: ns });
  state = new MigrationState(await cluster.ioCtx('mail', `${ns}migrate`));
});
afterEach(async () => {
  await cluster.close();
});

const row = (u: string): UserRow => ({ sourceUser: u, rmbUser: u, auth: 'none' });
const msg = (i: number, extra = '') => `From: a@example.org\r\nSubject: m${i}\r\n\r\nbody ${i}${extra}\r\n`;

async function sync(src: MemSource, user = 'alice', o: Partial<typeof DEFAULT_SYNC> = {}) {
  if (!(await state.users()).some((r) => r.rmbUser === user)) await state.importUsers([row(user)]);
  const s = new UserSync(store, state, user, src, { ...DEFAULT_SYNC, chunkMessages: 7, ...o });
  return { counters: await s.run(), problems: s.problems };
}

/** Everything rmb shows of a user, for comparison with the source. */
async function view(user = 'alice') {
  const u = await store.user(user);
  const out: Record<string, unknown> = {};
  const subs = await u.subscriptions();
  for (const b of await u.mailboxes()) {
    const mb = u.mailboxOf(b);
    const c = await mb.counters();
    const entries = await mb.entries();
    out[b.name] = {
      uidvalidity: c.uidvalidity,
      uidnext: c.uidnext,
      specialUse: b.specialUse,
      subscribed: subs.includes(b.name),
      messages: await Promise.all(
        entries.map(async (e) => ({
          uid: e.uid,
          flags: [...e.flags].sort(),
          internalDate: e.internalDate,
          data: (await u.messageBytes(e)).toString(),
        })),
      ),
    };
  }
  return out;
}

function sourceView(src: MemSource) {
  const out: Record<string, unknown> = {};
  for (const [name, f] of src.folders_) {
    out[name.split(src.delimiter).join('/')] = {
      uidvalidity: f.uidvalidity,
      uidnext: f.uidnext,
      specialUse: f.specialUse,
      subscribed: f.subscribed,
      messages: [...f.messages].map(([uid, m]) => ({
        uid,
        flags: [...m.flags].sort(),
        internalDate: m.internalDate,
        data: m.data.toString(),
      })),
    };
  }
  return out;
}

function fill(src: MemSource) {
  src.create('Sent Items', '\\Sent');
  src.create('Work');
  src.create('Work/Ärger', null, false);
  src.create('Spam');
  for (let i = 0; i < 30; i++) src.add('INBOX', msg(i), i % 2 ? ['\\Seen', '$Label1'] : [], Date.UTC(2020, 0, 1 + i));
  for (let i = 0; i < 12; i++) src.add('Work/Ärger', msg(100 + i), ['\\Flagged', 'Custom Kw'.replace(' ', '_')]);
  for (let i = 0; i < 3; i++) src.add('Sent Items', msg(200 + i), ['\\Seen']);
  // a gap in the UIDs and a source UIDNEXT above the last message
  src.expunge('INBOX', 5);
  src.add('Work', msg(300));
  src.expunge('Work', 1);
}

test('first sync: UIDVALIDITY, UIDs, UIDNEXT, flags, keywords, dates, bytes, special-use, subscriptions', async () => {
  const src = new MemSource();
  fill(src);
  const { counters } = await sync(src);
  expect(counters.copied).toBe(29 + 12 + 3);
  // rmb's unused default mailboxes that the source lacks are gone; its \Sent went to "Sent Items"
  expect(await view()).toEqual(sourceView(src));
  const v = await verifyUser(store, 'alice', src, 2);
  expect(v.differences).toEqual({});
  expect(v.rmb.messages).toBe(44);
  // HIGHESTMODSEQ at least the source's
  const u = await store.user('alice');
  const inbox = await u.mailbox('INBOX');
  expect((await inbox.counters()).highestModseq).toBeGreaterThanOrEqual(src.folders_.get('INBOX')!.modseq);
});

test('delta: only new bodies; flags, expunges, created, renamed and deleted folders, subscriptions', async () => {
  const src = new MemSource();
  fill(src);
  src.create('Old');
  src.add('Old', msg(400));
  await sync(src);
  src.bodyFetches = 0;
  for (let i = 0; i < 4; i++) src.add('INBOX', msg(500 + i));
  src.setFlags('INBOX', 1, ['\\Seen', '\\Answered', '$Forwarded']);
  src.setFlags('INBOX', 2, []);
  src.expunge('INBOX', 3);
  src.expunge('Work/Ärger', 4);
  src.create('Neu');
  src.add('Neu', msg(600));
  src.rename('Work', 'Arbeit');
  src.folders_.delete('Old');
  src.folders_.get('Sent Items')!.subscribed = false;
  src.folders_.get('Arbeit/Ärger')!.subscribed = true;
  const { counters } = await sync(src);
  expect(src.bodyFetches).toBe(5);
  expect(counters).toMatchObject({
    copied: 5,
    flagsChanged: 2,
    expunged: 2,
    foldersRenamed: 1,
    foldersDeleted: 1,
    foldersCreated: 1,
  });
  expect(await view()).toEqual(sourceView(src));
  // nothing changed: a third run fetches nothing and changes nothing
  src.bodyFetches = 0;
  const again = await sync(src);
  expect(src.bodyFetches).toBe(0);
  expect(again.counters).toMatchObject({ copied: 0, flagsChanged: 0, expunged: 0, foldersCreated: 0 });
});

test('a delta without CONDSTORE scans the flags and finds the same changes', async () => {
  const src = new MemSource('/', false);
  fill(src);
  await sync(src);
  src.setFlags('Work/Ärger', 2, ['\\Deleted']);
  src.add('INBOX', msg(700));
  const { counters } = await sync(src);
  expect(counters).toMatchObject({ copied: 1, flagsChanged: 1 });
  expect(differenceCount(await verifyUser(store, 'alice', src, 1))).toBe(0);
});

test('a UIDVALIDITY change at the source: the folder is copied again under the new one, and said so', async () => {
  const src = new MemSource();
  fill(src);
  await sync(src);
  src.reset('Work/Ärger');
  src.reset('INBOX');
  const { counters, problems } = await sync(src);
  expect(counters.foldersRecopied).toBe(2);
  expect(problems.join('\n')).toMatch(/Work\/Ärger: UIDVALIDITY changed/);
  const v = await verifyUser(store, 'alice', src, 2);
  expect(v.differences).toEqual({});
});

test('"/" inside a folder name of a "."-delimited source, and 8-bit names, get a rmb name', async () => {
  const src = new MemSource('.');
  src.create('Projects');
  src.create('Projects.2019/2020');
  src.create('Caf\u00e9.Men\u00fc');
  src.add('Projects.2019/2020', msg(1));
  src.add('Caf\u00e9.Men\u00fc', msg(2));
  await sync(src, 'alice', { altChar: '_' });
  const names = (await (await store.user('alice')).mailboxes()).map((b) => b.name);
  expect(names).toEqual(expect.arrayContaining(['Projects/2019_2020', 'Café/Menü']));
  expect(differenceCount(await verifyUser(store, 'alice', src, 2))).toBe(0);
});

test('a rmb mailbox holding mail the migration did not write blocks the user; nothing is overwritten', async () => {
  const src = new MemSource();
  fill(src);
  const u = await store.user('bob');
  await u.appendTo('INBOX', [{ data: Buffer.from(msg(9)), flags: [] }]);
  await state.importUsers([row('bob')]);
  const runner = new Runner(store, state);
  const r = await runner.sync({ sourceOf: async () => src });
  expect(r.users[0]).toMatchObject({ user: 'bob', status: 'blocked' });
  expect(r.exitCode).toBe(75);
  expect((await state.state('bob')).status).toBe('blocked');
  expect((await state.state('bob')).lastError).toMatch(/INBOX already holds mail the migration did not write/);
  const inbox = await u.mailbox('INBOX');
  expect((await inbox.entries()).length).toBe(1);
});

test('a FETCH answered NO: the folder stops before that message, the user fails, a rerun resumes', async () => {
  const src = new MemSource();
  fill(src);
  src.refuse.set('INBOX', new Set([17]));
  await state.importUsers([row('alice')]);
  const runner = new Runner(store, state);
  const r = await runner.sync({ sourceOf: async () => src, sync: { chunkMessages: 10 } });
  expect(r.exitCode).toBe(75);
  expect(r.users[0].error).toMatch(/INBOX UID 17/);
  const st = await state.state('alice');
  expect(st).toMatchObject({ status: 'failed', attempts: 1 });
  const inbox = await (await store.user('alice')).mailbox('INBOX');
  const uids = (await inbox.entries()).map((e) => e.uid);
  // everything below the refused UID was copied, nothing at or above it; its UID stays free
  expect(uids).toEqual([...src.folders_.get('INBOX')!.messages.keys()].filter((x) => x < 17));
  expect((await inbox.counters()).uidnext).toBe(17);
  // the other folders went on
  expect(differenceCount(await verifyUser(store, 'alice', src, 1))).toBeGreaterThan(0);
  src.refuse.clear();
  const again = await runner.sync({ sourceOf: async () => src });
  expect(again.exitCode).toBe(0);
  expect((await state.state('alice')).status).toBe('synced');
  expect(differenceCount(await verifyUser(store, 'alice', src, 2))).toBe(0);
});

/** Mail objects (stripe 0) in a user's namespace. */
async function mailObjects(io: IoCtx): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await io.list(cursor, 1000);
    out.push(...page.objects.map((o) => o.oid).filter((o) => /^m\.[0-9a-f-]+$/.test(o)));
    if (!page.cursor) return out;
    cursor = page.cursor;
  }
}

test('a crash after the objects are written and before the index commit leaves no orphan after a rerun', async () => {
  const src = new MemSource();
  fill(src);
  const ns = store.opts.namespace;
  // a store whose index commits of new messages never finish: the process "dies" there
  let hang = true;
  const commitsNewMail = (oid: string, op: WriteOp) =>
    oid.startsWith('i.') &&
    op.steps.some((x) => x.op === 'omapSet' && [...x.entries.keys()].some((k) => k.startsWith('u:')));
  const wrap = (io: IoCtx): IoCtx =>
    new Proxy(io, {
      get(t, p) {
        if (p === 'operate') {
          return (oid: string, op: WriteOp) =>
            hang && commitsNewMail(oid, op) ? new Promise(() => undefined) : t.operate(oid, op);
        }
        if (p === 'withNamespace') return (n: string) => wrap(t.withNamespace(n));
        const v = Reflect.get(t, p);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
  const hanging = {
    ioCtx: async (pool: string, nsp?: string) => wrap(await cluster.ioCtx(pool, nsp)),
    close: async () => undefined,
  } as unknown as Cluster;
  const crashed = await MailStore.open(hanging, { namespace: ns });
  await state.importUsers([row('alice')]);
  await crashed.user('alice');
  const s = new UserSync(crashed, state, 'alice', src, { ...DEFAULT_SYNC, chunkMessages: 7 });
  let died: unknown;
  void s.run().catch((e: unknown) => (died = e));
  // wait until a journal names written objects, then abandon that run (as kill -9 would)
  for (let i = 0; i < 200 && !(await state.journals('alice')).size; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  expect(died).toBeUndefined();
  const journals = await state.journals('alice');
  expect(journals.size).toBe(1);
  const u = await store.user('alice');
  const io = u.io;
  const written = await mailObjects(io);
  expect(written.length).toBeGreaterThan(0);
  hang = false;
  await sync(src);
  expect(await state.journals('alice')).toEqual(new Map());
  let entries = 0;
  for (const b of await u.mailboxes()) entries += (await u.mailboxOf(b).entries()).length;
  expect((await mailObjects(io)).length).toBe(entries);
  expect(differenceCount(await verifyUser(store, 'alice', src, 2))).toBe(0);
});

test('two runners on one user: one holds the lease, the other leaves the user alone', async () => {
  const src = new MemSource();
  fill(src);
  for (let i = 0; i < 200; i++) src.add('INBOX', msg(1000 + i));
  await state.importUsers([row('alice')]);
  const a = new Runner(store, state);
  const b = new Runner(store, state);
  const [ra, rb] = await Promise.all([
    a.sync({ sourceOf: async () => src, sync: { chunkMessages: 20 } }),
    b.sync({ sourceOf: async () => src, sync: { chunkMessages: 20 } }),
  ]);
  const statuses = [ra.users[0].status, rb.users[0].status].sort();
  expect(statuses).toEqual(['leased', 'synced']);
  expect(differenceCount(await verifyUser(store, 'alice', src, 2))).toBe(0);
  const st = await state.state('alice');
  expect(st.lease).toBeUndefined();
  const ev = await state.events('alice');
  expect(ev.map((e) => e.to)).toEqual(['pending', 'copying', 'synced']);
});

test('the verifier names and counts a changed byte, a missing index entry and a changed flag', async () => {
  const src = new MemSource();
  fill(src);
  await sync(src);
  const u = await store.user('alice');
  const inbox = await u.mailbox('INBOX');
  const [e1, e2, e3] = await inbox.entries();
  const bytes = await u.messageBytes(e1);
  bytes[bytes.length - 3] ^= 1;
  await u.io.write(e1.mail, bytes.subarray(bytes.length - 3, bytes.length - 2), bytes.length - 3);
  await u.io.omapRm(layout.indexOid(inbox.id), [layout.uidKey(e2.uid)]);
  await inbox.store([e3.uid], 'add', ['$Changed']);
  const v = await verifyUser(store, 'alice', src, 2);
  expect(v.differences).toEqual({ content: 1, missing: 1, flags: 1 });
  expect(v.details).toEqual(
    expect.arrayContaining([
      `content: INBOX UID ${e1.uid}: SHA-256 differs`,
      `missing: INBOX UID ${e2.uid}: not in rmb`,
      expect.stringMatching(new RegExp(`^flags: INBOX UID ${e3.uid}: `)),
    ]),
  );
  // level 0 compares folder totals only, which these breakages leave alone (the counters were not touched)
  const v0 = await verifyUser(store, 'alice', src, 0);
  expect(v0.differences).toEqual({});
});

test('a dry run counts what a sync would copy and writes nothing', async () => {
  const src = new MemSource();
  fill(src);
  await state.importUsers([row('alice')]);
  const r = await new Runner(store, state).sync({ sourceOf: async () => src, dryRun: true });
  expect(r.users[0]).toMatchObject({ status: 'dry-run', exitCode: 0 });
  expect((r.users[0].detail as { counters: { copied: number } }).counters.copied).toBe(44);
  expect(await state.folders('alice')).toEqual(new Map());
  expect((await state.state('alice')).status).toBe('pending');
  // the user exists (as a first login would make it) but nothing was migrated into it
  const u = await store.user('alice');
  for (const b of await u.mailboxes()) expect((await u.mailboxOf(b).counters()).uidnext).toBe(1);
});

test('the source changing during a sync: exit 2, and the next run makes rmb equal', async () => {
  const src = new MemSource();
  fill(src);
  const open = src.open.bind(src);
  let arrived = false;
  // new mail arrives in INBOX while the run copies it
  src.open = async (f) => {
    const o = await open(f);
    if (f.name === 'INBOX' && !arrived) {
      arrived = true;
      src.add('INBOX', msg(900));
    }
    return o;
  };
  await state.importUsers([row('alice')]);
  const runner = new Runner(store, state);
  const r = await runner.sync({ sourceOf: async () => src });
  expect(r.exitCode).toBe(2);
  expect((await state.state('alice')).lastRun?.sourceChanged).toBe(true);
  const again = await runner.sync({ sourceOf: async () => src });
  expect(again.exitCode).toBe(0);
  expect(differenceCount(await verifyUser(store, 'alice', src, 2))).toBe(0);
});

test('status and report: by status, Markdown with problems, CSV, JSON', async () => {
  const src = new MemSource();
  fill(src);
  await state.importUsers([row('alice'), { ...row('bob'), wave: 'w2' }]);
  const runner = new Runner(store, state);
  await runner.sync({ sourceOf: async () => src, users: ['alice'] });
  src.reset('Work');
  await runner.sync({ sourceOf: async () => src, wave: undefined, users: ['alice'] });
  const rows = await collect(state);
  expect(countByStatus(rows)).toEqual({ synced: 1, pending: 1 });
  const md = formatReport(rows, 'md');
  expect(md).toMatch(/2 users: 1 synced, 1 pending/);
  expect(md).toMatch(/- alice: Work: UIDVALIDITY changed from \d+ to \d+; copied again/);
  const csv = formatReport(rows, 'csv').trim().split('\n');
  expect(csv[0]).toBe(
    'user,source_user,wave,status,deltas,attempts,copied,copied_bytes,verify_level,differences,last_error',
  );
  expect(csv.slice(1).sort()).toEqual([
    expect.stringMatching(/^alice,alice,,synced,1,0,0,0,,,$/),
    'bob,bob,w2,pending,0,0,,,,,',
  ]);
  expect(JSON.parse(formatReport(rows, 'json')).byStatus).toEqual({ synced: 1, pending: 1 });
});

test('throttle: messages per second and bytes per second, served in order', async () => {
  jest.useFakeTimers({ now: 0 });
  try {
    const t = new Throttle(10, 0);
    const done: number[] = [];
    const all = [0, 1, 2].map((i) => t.take(10, 0).then(() => done.push(i)));
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(done).toEqual([0, 1]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(done).toEqual([0, 1, 2]);
    await Promise.all(all);
    const b = new Throttle(0, 1000);
    let big = false;
    void b
      .take(1, 1000)
      .then(() => b.take(1, 500))
      .then(() => (big = true));
    await jest.advanceTimersByTimeAsync(400);
    expect(big).toBe(false);
    await jest.advanceTimersByTimeAsync(200);
    expect(big).toBe(true);
  } finally {
    jest.useRealTimers();
  }
});

test('the per-host connection budget admits at most its limit per host', async () => {
  const budget = new HostBudget(2);
  const a1 = await budget.acquire('a');
  const a2 = await budget.acquire('a');
  const b1 = await budget.acquire('b');
  let third = false;
  const p = budget.acquire('a').then((rel: () => void) => {
    third = true;
    return rel;
  });
  await new Promise((r) => setTimeout(r, 10));
  expect(third).toBe(false);
  a1();
  (await p)();
  expect(third).toBe(true);
  a2();
  b1();
});

const oldServer = { imap: 'imap://old.example', delivery: 'lmtp://old.example:24' };

test('cut-over: frozen, final passes until one sees no change, verified, routed local; frozen time kept', async () => {
  const src = new MemSource();
  fill(src);
  await state.importUsers([row('alice')]);
  const runner = new Runner(store, state);
  await runner.sync({ sourceOf: async () => src });
  await store.routes.set('alice', { state: 'source', source: oldServer }, 'before the move');
  src.add('INBOX', msg(800));
  src.setFlags('Work/Ärger', 2, ['\\Seen']);
  const r = await runner.cutover({ sourceOf: async () => src, level: 2 });
  expect(r.exitCode).toBe(0);
  expect(r.users[0].detail).toMatchObject({ passes: 2, copied: 1, verify: {} });
  expect(await store.routes.get('alice')).toMatchObject({ state: 'local', source: oldServer });
  expect((await store.routes.history('alice')).map((h) => h.to)).toEqual(['source', 'frozen', 'local']);
  const st = await state.state('alice');
  expect(st.status).toBe('cut-over');
  expect(st.cutover!.frozenMs).toBeGreaterThanOrEqual(0);
  expect(await view()).toEqual(sourceView(src));
});

test('a cut-over whose verification fails routes the user back to the source, and says why', async () => {
  const src = new MemSource();
  fill(src);
  await state.importUsers([row('alice')]);
  await new Runner(store, state).sync({ sourceOf: async () => src });
  await store.routes.set('alice', { state: 'source', source: oldServer }, 'before the move');
  const u = await store.user('alice');
  const breakOne = async () => {
    const [e] = await (await u.mailbox('INBOX')).entries();
    const b = await u.messageBytes(e, 0, 1);
    await u.io.write(e.mail, Buffer.from([b[0] ^ 0x20]), 0);
  };
  await expect(cutover(store, state, 'alice', src, { level: 2, afterSync: breakOne })).rejects.toThrow(
    /cut-over failed, back to the source: verification found 1 difference\(s\): content: INBOX UID 1/,
  );
  expect(await store.routes.get('alice')).toMatchObject({ state: 'source', source: oldServer });
  const h = await store.routes.history('alice');
  expect(h.map((x) => x.to)).toEqual(['source', 'frozen', 'source']);
  expect(h[2].reason).toMatch(/verification found/);
  // a user not routed to a source is not cut over
  await store.routes.set('alice', { state: 'local' }, 'elsewhere');
  await expect(cutover(store, state, 'alice', src)).rejects.toThrow(/not routed to a source/);
});

test('default cut-over verification: level 1 of all, bytes of what was copied since the last level 2', async () => {
  const src = new MemSource();
  fill(src);
  await state.importUsers([row('alice')]);
  const runner = new Runner(store, state);
  await runner.sync({ sourceOf: async () => src });
  const full = await runner.verify({ sourceOf: async () => src, level: 2 });
  expect(full.exitCode).toBe(0);
  const all = (full.users[0].detail as { hashed: number }).hashed;
  expect(all).toBeGreaterThan(3);
  const marks = (await state.state('alice')).verify!.contentMarks!;
  expect(marks.INBOX).toBe(src.folders_.get('INBOX')!.uidnext);
  await store.routes.set('alice', { state: 'source', source: oldServer }, 'before the move');
  src.add('INBOX', msg(900));
  src.add('INBOX', msg(901));
  const r = await runner.cutover({ sourceOf: async () => src });
  expect(r.exitCode).toBe(0);
  // the two new messages' bytes were compared, none of the ones verified before
  expect(r.users[0].detail).toMatchObject({ copied: 2, hashed: 2, verify: {} });
  expect((await state.state('alice')).verify!.contentMarks!.INBOX).toBe(src.folders_.get('INBOX')!.uidnext);
});

test('a wave cut over with a bound on users in flight; status per wave, frozen p50/p99, ETA', async () => {
  const srcs = new Map<string, MemSource>();
  const users = Array.from({ length: 6 }, (_, i) => `u${i}`);
  for (const u of users) {
    const s = new MemSource();
    for (let i = 0; i < 3; i++) s.add('INBOX', msg(i));
    srcs.set(u, s);
  }
  await state.importUsers([...users.map((u, i) => ({ ...row(u), wave: i < 4 ? 'w1' : 'w2' })), row('other')]);
  const runner = new Runner(store, state);
  const sourceOf = async (r: UserRow) => srcs.get(r.rmbUser) ?? new MemSource();
  await runner.sync({ sourceOf });
  for (const u of users) await store.routes.set(u, { state: 'source', source: oldServer }, 'before the move');
  // at most 2 users of the wave frozen at once
  let frozen = 0;
  let most = 0;
  const sampler = setInterval(() => {
    void Promise.all(users.map((u) => store.routes.own(u))).then((rs) => {
      frozen = rs.filter((r) => r?.state === 'frozen').length;
      most = Math.max(most, frozen);
    });
  }, 1);
  const r = await runner.cutover({ sourceOf, wave: 'w1', concurrency: 2, drainMs: 30 });
  clearInterval(sampler);
  expect(r.exitCode).toBe(0);
  expect(r.users.map((u) => u.user).sort()).toEqual(['u0', 'u1', 'u2', 'u3']);
  expect(most).toBeGreaterThanOrEqual(1);
  expect(most).toBeLessThanOrEqual(2);
  const sum = summarize(await collect(state));
  expect(sum.byWave).toEqual({ w1: { 'cut-over': 4 }, w2: { synced: 2 }, '': { synced: 1 } });
  expect(sum.frozen.count).toBe(4);
  // the drain alone keeps each user frozen at least 30 ms
  expect(sum.frozen.p50Ms!).toBeGreaterThanOrEqual(30);
  expect(sum.frozen.p99Ms!).toBeGreaterThanOrEqual(sum.frozen.p50Ms!);
  expect(sum.remaining).toBe(3);
  expect(sum.etaSeconds).not.toBeNull();
  expect(formatReport(await collect(state), 'md')).toMatch(/Frozen time over 4 cut-over\(s\): p50 \d+ ms, p99 \d+ ms/);
});

test('percentiles and ETA of the summary, on fixed figures', () => {
  const rows = Array.from({ length: 100 }, (_, i) => ({
    user: `u${i}`,
    sourceUser: `u${i}`,
    wave: i < 10 ? 'a' : undefined,
    state: {
      status: (i < 10 ? 'cut-over' : 'synced') as 'cut-over' | 'synced',
      deltas: 0,
      attempts: 0,
      updated: 0,
      ...(i < 10 ? { cutover: { at: 1_000_000 + i * 1000, frozenMs: (i + 1) * 100, passes: 1, copied: 0 } } : {}),
    },
  }));
  const s = summarize(rows);
  // frozen 100, 200, ..., 1000 ms: nearest rank
  expect(s.frozen).toEqual({ count: 10, p50Ms: 500, p99Ms: 1000, maxMs: 1000, totalMs: 5500 });
  // 10 done in 9 s + the first one's 100 ms: 90 remaining take 90 * 9.1 / 10 s
  expect(s.remaining).toBe(90);
  expect(s.etaSeconds).toBe(82);
  expect(s.byWave).toEqual({ a: { 'cut-over': 10 }, '': { synced: 90 } });
});
