/**
 * Issue 11, K2 and K3: behaviour changes of the code-health pass. A config with an unknown key or a wrong
 * type exits 1 with one line naming it; CLOSE reports a failed expunge; a quota check on a failing
 * store refuses the save ([UNAVAILABLE]) instead of passing; the passwd file is read once per change
 * and passwords are checked off the event loop.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, type IoCtx, TimedOut } from '@rmb/rados';
import { cli, inProcessServer, RawClient, type InProcessServer } from './harness.js';
import { PasswdFile } from '../src/passwd.js';

describe('config validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rmb-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [cli, 'user', 'list', '-s', `dataDir=${dir}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  test.each([
    ['an unknown key (--set)', ['-s', 'imap.prot=1143'], {}, /^rmb: config: unknown setting imap\.prot\n$/],
    [
      'a wrong type (--set)',
      ['-s', 'imap.port=many'],
      {},
      /^rmb: config: imap\.port: Expected number, received string\n$/,
    ],
    [
      'an unknown key (environment)',
      [],
      { RMB_LMTP__MAX_CLIENT: '5' },
      /^rmb: config: unknown setting lmtp\.maxClient\n$/,
    ],
    ['a value out of its set', ['-s', 'store.backend=cephfs'], {}, /^rmb: config: store\.backend: Invalid enum value/],
  ])('%s exits 1 with one line naming it', (_what, args, env, want) => {
    const r = run(args, env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(want);
  });

  test('an unknown key in the YAML file exits 1 naming it; test variables in the environment are not settings', () => {
    const file = join(dir, 'rmb.yaml');
    writeFileSync(file, 'imap:\n  port: 1143\nlmtp:\n  hots: 127.0.0.1\n');
    const r = run(['-c', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('rmb: config: unknown setting lmtp.hots\n');
    expect(run([], { RMB_CEPH_CONF: '/nowhere/ceph.conf', RMB_DOVECOT_REQUIRED: '1' }).status).toBe(0);
  });
});

/** A cluster whose IoCtx operations fail with a timeout while `failing(method, oid)` says so. */
function faulty(inner: Cluster, failing: (method: string, oid: string) => boolean): Cluster {
  const wrap = (io: IoCtx): IoCtx =>
    new Proxy(io, {
      get: (t, prop, recv) => {
        const v = Reflect.get(t, prop, recv) as unknown;
        if (prop === 'withNamespace') return (ns: string) => wrap(t.withNamespace(ns));
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          if (failing(prop, String(args[0] ?? ''))) return Promise.reject(new TimedOut(`${prop} timed out (test)`));
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  return new Proxy(inner, {
    get: (t, prop, recv) =>
      prop === 'ioCtx'
        ? async (pool: string, ns?: string) => wrap(await t.ioCtx(pool, ns))
        : Reflect.get(t, prop, recv),
  });
}

describe('failures are reported, not swallowed', () => {
  let srv: InProcessServer;
  let fail: (method: string, oid: string) => boolean = () => false;
  beforeAll(async () => {
    srv = await inProcessServer({}, { quota: { storageBytes: 0, messages: 1000 } }, (c) =>
      faulty(c, (m, o) => fail(m, o)),
    );
  });
  afterAll(async () => {
    await srv.close();
  });

  test('CLOSE: a failed expunge is reported in an untagged NO [UNAVAILABLE]; the mailbox is closed', async () => {
    const c = await RawClient.greeted(srv.port, 'c');
    await c.command('LOGIN closer pw');
    const m = 'Subject: x\r\n\r\nbody\r\n';
    await c.command(`APPEND INBOX (\\Deleted) {${m.length}+}\r\n${m}`);
    await c.command('SELECT INBOX');
    fail = (method, oid) => method === 'operate' && oid.startsWith('i.');
    const r = await c.command('CLOSE');
    fail = () => false;
    expect(r).toMatch(/^\* NO \[UNAVAILABLE\] Expunge on close failed/m);
    expect(r).toMatch(/^c\d+ OK Close completed/m);
    expect(await c.command('FETCH 1 (FLAGS)')).toMatch(/BAD/); // no longer selected
    expect(await c.command('STATUS INBOX (MESSAGES)')).toContain('(MESSAGES 1)'); // nothing expunged
    c.close();
  });

  test('quota: when a mailbox counter cannot be read the save is refused [UNAVAILABLE], not let through', async () => {
    const c = await RawClient.greeted(srv.port, 'q');
    await c.command('LOGIN quotauser pw');
    const archive = /MAILBOXID \(([\w-]+)\)/.exec(await c.command('STATUS Archive (MAILBOXID)'))![1];
    fail = (method, oid) => method === 'omapGetByKeys' && oid === `i.${archive}`;
    const m = 'Subject: y\r\n\r\nbody\r\n';
    const r = await c.command(`APPEND INBOX {${m.length}+}\r\n${m}`);
    fail = () => false;
    expect(r).toMatch(/^q\d+ NO \[UNAVAILABLE\]/m);
    expect(await c.command('STATUS INBOX (MESSAGES)')).toContain('(MESSAGES 0)');
    c.close();
  });
});

describe('passwd file: read once per change, checked without blocking the event loop (K2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rmb-passwd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('lookups and logins read the file once until it changes; a change by another writer is seen', async () => {
    const path = join(dir, 'passwd');
    const admin = new PasswdFile(path); // as `rmb user add` in another process
    admin.set('ann', 'ann-pw');
    admin.set('bob', 'bob-pw', 'SHA512-CRYPT');
    const server = new PasswdFile(path);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => server.authenticate('ann', 'ann-pw')),
      ...Array.from({ length: 5 }, () => server.authenticate('bob', 'bob-pw')),
      server.authenticate('bob', 'wrong'),
      server.lookup('ANN'),
      server.lookup('nobody'),
      server.scram('ann'),
    ]);
    expect(results.slice(0, 15)).toEqual([...Array(10).fill('ann'), ...Array(5).fill('bob')]);
    expect(results.slice(15, 18)).toEqual([null, 'ann', null]);
    expect(server.reads).toBe(1);
    admin.set('cat', 'cat-pw');
    for (let i = 0; i < 50 && (await server.lookup('cat')) === null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await server.lookup('cat')).toBe('cat');
    expect(await server.authenticate('cat', 'cat-pw')).toBe('cat');
    expect(server.reads).toBe(2);
    server.close();
  });

  test('crypt(3) checks run in a worker: the event loop turns while a {BLF-CRYPT} check is pending', async () => {
    const path = join(dir, 'passwd2');
    const p = new PasswdFile(path);
    p.set('dora', 'dora-pw', 'BLF-CRYPT');
    await p.lookup('dora');
    let settled = false;
    const check = p.authenticate('dora', 'dora-pw').then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    expect(await check).toBe('dora');
    p.close();
  });
});
