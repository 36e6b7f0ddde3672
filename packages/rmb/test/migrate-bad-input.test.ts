/**
 * Issue 12, M6: bad input to `rmb migrate`. A users file with bad rows (nothing imported, every
 * row named, exit 78); an unreachable source and a wrong password (that user `failed`, the
 * others go on; exit 77); a FETCH answered NO by a real server (the folder stops before that
 * message, exit 75, a rerun completes); from disk, a 0-byte message, a 100 MiB message (striped)
 * and a folder of 100,000 messages, with the process's peak RSS under a fixed ceiling.
 * (Folder names with ".", "/" and 8-bit bytes: packages/migrate/test/sync.test.ts and
 * maildir.test.ts, and "Privat.Notizen" in migrate-dovecot.test.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Cluster, type IoCtx, type ReadOp } from '@rmb/rados';
import { MailStore } from '@rmb/librmb';
import {
  dovecotSuite,
  inProcessServer,
  newDataDir,
  startDovecot,
  type InProcessServer,
  type ReferenceDovecot,
} from './harness.js';
import { migrateCli, outcomes, withImap } from './migrate-helpers.js';

/**
 * The ceiling of a migration's private memory (RssAnon, bytes), for a folder of 100,000 messages
 * and for a 100 MiB message alike; the runs also get a V8 heap of 200 MiB (NODE_OPTIONS, as
 * docs/migration.md recommends), which a run whose memory grew with the folder would overflow.
 */
const RSS_CEILING = 300 << 20;
const HEAP = { NODE_OPTIONS: '--max-old-space-size=200' };

test('a users file with bad rows: each named with its line, nothing imported, exit 78', async () => {
  const dataDir = newDataDir({});
  try {
    const f = join(dataDir, 'users.csv');
    writeFileSync(
      f,
      'source_user,rmb_user,auth,secret\nok,ok,password,env:X\nbad,,password,env:Y\nb2,b2,password,pw\n',
    );
    const r = await migrateCli(dataDir, ['users', 'import', f, '--source', 'imap://127.0.0.1:1']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/2 bad row\(s\)/);
    expect(r.stderr).toMatch(/line 3: rmb_user: missing/);
    expect(r.stderr).toMatch(/line 4: secret: secret must be env:NAME or file:/);
    const st = await migrateCli(dataDir, ['status', '--json']);
    expect(JSON.parse(st.stdout)).toMatchObject({ total: 0, byStatus: {}, byWave: {}, remaining: 0, users: [] });
    // a bad source URI is a configuration error too
    writeFileSync(f, 'source_user,rmb_user,auth,secret\nok,ok,password,env:X\n');
    const bad = await migrateCli(dataDir, ['users', 'import', f, '--source', 'pop3://old']);
    expect(bad.code).toBe(78);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

dovecotSuite('migration with an unreachable source and a wrong password (issue 12: M6)', () => {
  let dv: ReferenceDovecot;
  let dataDir: string;
  beforeAll(async () => {
    dv = await startDovecot({ good: 'good-pw', wrong: 'wrong-pw' }, ['--master', 'admin:admin-pw']);
    await withImap(dv.imap, 'good', 'good-pw', (c) => c.append('INBOX', 'Subject: hi\r\n\r\nhi\r\n'));
    dataDir = newDataDir({});
  }, 60000);
  afterAll(async () => {
    await dv?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the failing users are `failed` with the reason; the others are synced; exit 77', async () => {
    writeFileSync(
      join(dataDir, 'users.csv'),
      'source_user,rmb_user,auth,secret,source\n' +
        'good,good,password,env:GOOD_PW,\n' +
        'wrong,wrong,password,env:BAD_PW,\n' +
        'gone,gone,password,env:GOOD_PW,imap://127.0.0.1:1\n',
    );
    const src = `imap://127.0.0.1:${dv.imap}`;
    expect((await migrateCli(dataDir, ['users', 'import', join(dataDir, 'users.csv'), '--source', src])).code).toBe(0);
    const env = { GOOD_PW: 'good-pw', BAD_PW: 'not-the-password' };
    const r = await migrateCli(dataDir, ['sync', '--json'], env);
    expect(r.code).toBe(77);
    const o = outcomes(r);
    expect(o.good).toMatchObject({ type: 'user-done', status: 'synced', exitCode: 0 });
    expect(o.wrong).toMatchObject({ type: 'user-failed', status: 'failed', exitCode: 77 });
    expect(o.wrong.error).toMatch(/authentication failed/);
    expect(o.gone).toMatchObject({ type: 'user-failed', status: 'failed', exitCode: 75 });
    expect(o.gone.error).toMatch(/ECONNREFUSED/);
    // the password never appears in the output or the state
    const report = await migrateCli(dataDir, ['report', '--format', 'json']);
    expect(report.stdout + r.stdout + r.stderr).not.toMatch(/not-the-password|good-pw/);
    const states = Object.fromEntries(
      (
        JSON.parse(report.stdout) as { users: { user: string; state: { status: string; attempts: number } }[] }
      ).users.map((u) => [u.user, u.state]),
    );
    expect(states.good).toMatchObject({ status: 'synced', attempts: 0 });
    expect(states.wrong).toMatchObject({ status: 'failed', attempts: 1 });
    expect(states.gone).toMatchObject({ status: 'failed', attempts: 1 });
    // once the password is right, a rerun of that user alone succeeds
    const again = await migrateCli(dataDir, ['sync', '--users', 'wrong', '--json'], { BAD_PW: 'wrong-pw' });
    expect(again.code).toBe(0);
  }, 120000);

  test('a master user logs in for the user: SASL PLAIN with authorization identity, and user*master', async () => {
    const f = join(dataDir, 'master.csv');
    writeFileSync(
      f,
      'source_user,rmb_user,auth,secret,master_user\n' +
        'good,m-sasl,master,env:ADMIN_PW,admin\ngood,m-star,master,env:ADMIN_PW,admin\n',
    );
    expect((await migrateCli(dataDir, ['users', 'import', f])).code).toBe(0);
    const sasl = await migrateCli(dataDir, ['sync', '--users', 'm-sasl', '--json'], { ADMIN_PW: 'admin-pw' });
    expect(sasl.code).toBe(0);
    const counters = (outcomes(sasl)['m-sasl'] as { detail: { counters: { copied: number } } }).detail.counters;
    expect(counters.copied).toBe(1);
    const star = await migrateCli(dataDir, ['sync', '--users', 'm-star', '--master-form', 'star', '--json'], {
      ADMIN_PW: 'admin-pw',
    });
    expect(star.code).toBe(0);
    expect(
      (await migrateCli(dataDir, ['verify', '--users', 'm-sasl,m-star', '--level', '2'], { ADMIN_PW: 'admin-pw' }))
        .code,
    ).toBe(0);
    const bad = await migrateCli(dataDir, ['sync', '--users', 'm-sasl', '--json'], { ADMIN_PW: 'nope' });
    expect(bad.code).toBe(77);
  }, 120000);
});

describe('a FETCH answered NO by the source server (issue 12: M6)', () => {
  let server: InProcessServer;
  let failing = new Set<string>();
  let dataDir: string;

  beforeAll(async () => {
    // the source is an rmb server whose store cannot read some mail objects: it answers FETCH with NO
    const wrapIo = (io: IoCtx): IoCtx =>
      new Proxy(io, {
        get(t, p) {
          if (p === 'read' || p === 'operateRead') {
            return (oid: string, ...rest: unknown[]) => {
              if (failing.has(oid)) return Promise.reject(new Error('injected read failure'));
              return p === 'read' ? t.read(oid, ...(rest as [number, number])) : t.operateRead(oid, rest[0] as ReadOp);
            };
          }
          if (p === 'withNamespace') return (n: string) => wrapIo(t.withNamespace(n));
          const v = Reflect.get(t, p);
          return typeof v === 'function' ? v.bind(t) : v;
        },
      });
    server = await inProcessServer({}, {}, (c: Cluster) => {
      const ioCtx = c.ioCtx.bind(c);
      return Object.assign(Object.create(Object.getPrototypeOf(c) as object) as Cluster, c, {
        ioCtx: async (pool: string, ns?: string) => wrapIo(await ioCtx(pool, ns)),
      });
    });
    const u = await server.store.user('src');
    const saved = await u.appendTo(
      'INBOX',
      Array.from({ length: 30 }, (_, i) => ({ data: Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`), flags: [] })),
    );
    failing = new Set([saved.saved[11].mail]);
    dataDir = newDataDir({});
  });
  afterAll(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the folder stops before the refused message, exit 75 naming it; a rerun completes', async () => {
    writeFileSync(join(dataDir, 'users.csv'), 'source_user,rmb_user,auth,secret\nsrc,dst,password,env:PW\n');
    const uri = `imap://127.0.0.1:${server.port}`;
    expect((await migrateCli(dataDir, ['users', 'import', join(dataDir, 'users.csv'), '--source', uri])).code).toBe(0);
    const sets = ['migrate.chunkMessages=8'];
    const r = await migrateCli(dataDir, ['sync', '--json'], { PW: 'x' }, sets);
    expect(r.code).toBe(75);
    expect(outcomes(r).dst.error).toMatch(/refused 1 message\(s\).*INBOX UID 12/);
    const cluster = await connect({ backend: 'embedded', path: join(dataDir, 'store') });
    const inbox = await (await (await MailStore.open(cluster)).user('dst')).mailbox('INBOX');
    expect((await inbox.entries()).map((e) => e.uid)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect((await inbox.counters()).uidnext).toBe(12);
    await cluster.close();
    failing.clear();
    const again = await migrateCli(dataDir, ['sync', '--json'], { PW: 'x' }, sets);
    expect(again.code).toBe(0);
    expect((await migrateCli(dataDir, ['verify', '--level', '2'], { PW: 'x' })).code).toBe(0);
  }, 120000);
});

describe('from disk: a 0-byte message, a 100 MiB message, a folder of 100,000 messages (issue 12: M6)', () => {
  let root: string;
  let dataDir: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'rmb-maildirs-'));
    const folder = (dir: string) => ['cur', 'new', 'tmp'].forEach((s) => mkdirSync(join(dir, s), { recursive: true }));
    // user "many": INBOX with 100,000 small messages, named as Dovecot names them (,S= and ,W= sizes)
    const many = join(root, 'many');
    folder(many);
    const t0 = 1500000000;
    for (let i = 0; i < 100000; i++) {
      const body =
        `From: a@example.org\r\nSubject: message ${i}\r\n` + `Message-ID: <m${i}@example.org>\r\n\r\nbody ${i}\r\n`;
      const n = Buffer.byteLength(body);
      writeFileSync(join(many, 'cur', `${t0 + i}.M${i}P1.host,S=${n},W=${n}:2,${i % 3 ? 'S' : ''}`), body);
    }
    // user "huge": a 100 MiB message and a 0-byte one
    const huge = join(root, 'huge');
    folder(huge);
    const line = Buffer.from(
      '0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij\r\n',
    );
    const big = Buffer.alloc(100 << 20);
    const head = Buffer.from('From: a@example.org\r\nSubject: big\r\n\r\n');
    head.copy(big);
    for (let o = head.length; o < big.length; o += line.length)
      line.copy(big, o, 0, Math.min(line.length, big.length - o));
    writeFileSync(join(huge, 'cur', '1600000000.M1P1.host:2,S'), big);
    writeFileSync(join(huge, 'cur', '1600000001.M2P1.host:2,'), '');
    utimesSync(join(huge, 'cur', '1600000001.M2P1.host:2,'), 1600000001, 1600000001);
    dataDir = newDataDir({});
    writeFileSync(join(dataDir, 'users.csv'), 'source_user,rmb_user,auth\nmany,many,none\nhuge,huge,none\n');
  }, 300000);
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('everything copied, the 100 MiB mail striped, and the peak RSS under a fixed ceiling', async () => {
    const src = `maildir:${root}/%u`;
    expect((await migrateCli(dataDir, ['users', 'import', join(dataDir, 'users.csv'), '--source', src])).code).toBe(0);
    for (const user of ['huge', 'many']) {
      const r = await migrateCli(dataDir, ['sync', '--json', '--users', user], HEAP);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const done = r.events.find((e) => e.type === 'run-done') as { peakAnonBytes: number };
      expect(done.peakAnonBytes).toBeGreaterThan(0);
      expect(done.peakAnonBytes).toBeLessThan(RSS_CEILING);
    }
    for (const [user, level] of [
      ['huge', '2'],
      ['many', '1'],
    ]) {
      const v = await migrateCli(dataDir, ['verify', '--level', level, '--users', user, '--json'], HEAP);
      expect(v.code).toBe(0);
      expect((v.events.find((e) => e.type === 'run-done') as { peakAnonBytes: number }).peakAnonBytes).toBeLessThan(
        RSS_CEILING,
      );
    }
    const cluster = await connect({ backend: 'embedded', path: join(dataDir, 'store') });
    try {
      const store = await MailStore.open(cluster);
      const huge = await store.user('huge');
      const [big, empty] = await (await huge.mailbox('INBOX')).entries();
      expect(big.size).toBe(100 << 20);
      expect(empty.size).toBe(0);
      // striped: more than one RADOS object holds the 100 MiB
      await expect(huge.io.stat(`${big.mail}.1`)).resolves.toMatchObject({ size: expect.any(Number) });
      const many = await (await store.user('many')).mailbox('INBOX');
      expect(await many.counters()).toMatchObject({ messages: 100000, uidnext: 100001 });
    } finally {
      await cluster.close();
    }
  }, 600000);
});
