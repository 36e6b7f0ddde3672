/**
 * The RADOS contract suite: every backend (memory, embedded, librados) must pass it unchanged.
 * `runContractSuite(name, open)` registers the Jest tests; `open` gives a fresh Cluster.
 */
import { randomUUID } from 'node:crypto';
import { ALL_NAMESPACES, type Cluster, type IoCtx, ReadOp, WriteOp, isErrno, CHUNK } from '../src/index.js';

export function runContractSuite(name: string, open: () => Promise<Cluster>, pool = 'rmbtest'): void {
  describe(`RADOS contract: ${name}`, () => {
    let cluster: Cluster;
    let io: IoCtx;
    beforeAll(async () => {
      cluster = await open();
    });
    afterAll(async () => {
      await cluster.close();
    });
    beforeEach(async () => {
      io = await cluster.ioCtx(pool, `ns-${randomUUID()}`);
    });

    const rejectsWith = async (p: Promise<unknown>, code: 'ENOENT' | 'EEXIST' | 'ECANCELED' | 'ENODATA' | 'ERANGE') => {
      let err: unknown;
      try {
        await p;
      } catch (e) {
        err = e;
      }
      expect(err).toBeDefined();
      expect(isErrno(err, code)).toBe(true);
    };

    test('data: writeFull, ranged read, write at offset, append, truncate, stat, remove', async () => {
      await rejectsWith(io.stat('a'), 'ENOENT');
      await rejectsWith(io.read('a'), 'ENOENT');
      await io.writeFull('a', Buffer.from('hello world'));
      expect((await io.read('a')).toString()).toBe('hello world');
      expect((await io.read('a', 6, 3)).toString()).toBe('wor');
      expect((await io.read('a', 6, 100)).toString()).toBe('world');
      expect((await io.read('a', 50, 10)).length).toBe(0);
      await io.write('a', Buffer.from('W'), 6);
      await io.append('a', Buffer.from('!'));
      expect((await io.read('a')).toString()).toBe('hello World!');
      const st = await io.stat('a');
      expect(st.size).toBe(12);
      expect(st.version).toBeGreaterThan(0);
      await io.operate('a', new WriteOp().truncate(5));
      expect((await io.read('a')).toString()).toBe('hello');
      await io.write('a', Buffer.from('x'), 8);
      expect(await io.read('a')).toEqual(Buffer.from('hello\0\0\0x'));
      await io.remove('a');
      await rejectsWith(io.stat('a'), 'ENOENT');
      await rejectsWith(io.remove('a'), 'ENOENT');
    });

    test('data: objects larger than the local chunk size read back exactly, in ranges', async () => {
      const big = Buffer.alloc(CHUNK * 2 + 12345);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
      await io.writeFull('big', big);
      expect((await io.read('big')).equals(big)).toBe(true);
      const off = CHUNK - 100;
      expect((await io.read('big', off, 300)).equals(big.subarray(off, off + 300))).toBe(true);
      await io.operate('big', new WriteOp().truncate(CHUNK + 1));
      expect((await io.read('big')).equals(big.subarray(0, CHUNK + 1))).toBe(true);
    });

    test('xattrs: set, get, list, remove; missing xattr is ENODATA', async () => {
      await io.setXattr('x', 'user.a', 'A');
      await io.setXattr('x', 'user.b', Buffer.from([0, 1, 2]));
      expect((await io.getXattr('x', 'user.a')).toString()).toBe('A');
      const all = await io.getXattrs('x');
      expect([...all.keys()].sort()).toEqual(['user.a', 'user.b']);
      expect(all.get('user.b')).toEqual(Buffer.from([0, 1, 2]));
      await rejectsWith(io.getXattr('x', 'user.none'), 'ENODATA');
      await io.operate('x', new WriteOp().rmXattr('user.a'));
      expect([...(await io.getXattrs('x')).keys()]).toEqual(['user.b']);
      await rejectsWith(io.getXattrs('missing'), 'ENOENT');
    });

    test('omap: set, get by keys, paged listing with startAfter/prefix/max, remove, clear', async () => {
      const entries: Record<string, string> = {};
      for (let i = 0; i < 250; i++) entries[`u:${String(i).padStart(6, '0')}`] = `v${i}`;
      entries['h'] = 'header';
      entries['l:1'] = 'log';
      await io.omapSet('o', entries);
      const got = await io.omapGetByKeys('o', ['h', 'u:000007', 'nope']);
      expect([...got.entries()].map(([k, v]) => [k, v.toString()])).toEqual([
        ['h', 'header'],
        ['u:000007', 'v7'],
      ]);
      const keys: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await io.omapList('o', { prefix: 'u:', startAfter: after, max: 100 });
        keys.push(...page.entries.keys());
        if (!page.more) break;
        after = [...page.entries.keys()].pop();
      }
      expect(keys.length).toBe(250);
      expect(keys).toEqual([...keys].sort());
      expect(keys[0]).toBe('u:000000');
      const first = await io.omapList('o', { max: 2 });
      expect([...first.entries.keys()]).toEqual(['h', 'l:1']);
      expect(first.more).toBe(true);
      await io.omapRm('o', ['h', 'l:1']);
      const rest = await io.omapList('o', { max: 1 });
      expect([...rest.entries.keys()]).toEqual(['u:000000']);
      await io.operate('o', new WriteOp().omapClear());
      expect((await io.omapList('o')).entries.size).toBe(0);
      await rejectsWith(io.omapList('none'), 'ENOENT');
    });

    test('omap keys sort bytewise, including non-ASCII and control bytes', async () => {
      const ks = ['a', 'a\u0000b', 'a\u0001', 'ab', 'Z', 'ä', '€', 'b/c'];
      await io.omapSet('s', Object.fromEntries(ks.map((k) => [k, k])));
      const page = await io.omapList('s');
      const expected = [...ks].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect([...page.entries.keys()]).toEqual(expected);
      for (const [k, v] of page.entries) expect(v.toString()).toBe(k);
    });

    test('compound op: a failed guard cancels the whole op and changes nothing', async () => {
      await io.operate(
        'c',
        new WriteOp().create(true).writeFull(Buffer.from('v1')).setXattr('x', '1').omapSet({ h: '1', k: 'a' }),
      );
      const before = await io.stat('c');
      // omapCmp mismatch after and before mutations
      await rejectsWith(
        io.operate(
          'c',
          new WriteOp().writeFull(Buffer.from('v2')).omapSet({ k: 'b' }).omapCmp('h', 'eq', '2').setXattr('x', '2'),
        ),
        'ECANCELED',
      );
      await rejectsWith(io.operate('c', new WriteOp().omapCmp('h', 'eq', '0').omapRm(['k'])), 'ECANCELED');
      await rejectsWith(
        io.operate('c', new WriteOp().omapCmp('absent', 'eq', '1').append(Buffer.from('z'))),
        'ECANCELED',
      );
      // a missing key compares as an empty value, as on Ceph (ADR 0001)
      await io.writeFull('c-empty', Buffer.from('x'));
      await io.operate('c-empty', new WriteOp().omapCmp('absent', 'eq', '').omapSet({ z: '1' }));
      expect((await io.omapGetByKeys('c-empty', ['z'])).get('z')?.toString()).toBe('1');
      await rejectsWith(io.operate('c', new WriteOp().cmpXattr('x', 'eq', '9').remove()), 'ECANCELED');
      await rejectsWith(io.operate('c', new WriteOp().create(true).writeFull(Buffer.from('v3'))), 'EEXIST');
      await rejectsWith(
        io.operate('c', new WriteOp().assertVersion(before.version + 5).writeFull(Buffer.from('v4'))),
        'ERANGE',
      );
      await rejectsWith(io.operate('nothere', new WriteOp().assertExists().writeFull(Buffer.from('v5'))), 'ENOENT');
      await rejectsWith(io.stat('nothere'), 'ENOENT');
      expect((await io.read('c')).toString()).toBe('v1');
      expect((await io.getXattr('c', 'x')).toString()).toBe('1');
      const om = await io.omapList('c');
      expect([...om.entries].map(([k, v]) => `${k}=${v}`)).toEqual(['h=1', 'k=a']);
      expect((await io.stat('c')).version).toBe(before.version);
      // guards that hold let the op through, atomically
      await io.operate(
        'c',
        new WriteOp()
          .assertVersion(before.version)
          .omapCmp('h', 'eq', '1')
          .cmpXattr('x', 'eq', '1')
          .omapSet({ h: '2' })
          .writeFull(Buffer.from('v6')),
      );
      expect((await io.read('c')).toString()).toBe('v6');
      expect((await io.omapGetByKeys('c', ['h'])).get('h')?.toString()).toBe('2');
    });

    test('comparison direction: the stored value is the left operand (stored > given)', async () => {
      await io.operate('d', new WriteOp().omapSet({ v: '5' }).setXattr('x', '5'));
      await io.operate(
        'd',
        new WriteOp().omapCmp('v', 'gt', '3').cmpXattr('x', 'gt', '3').cmpXattr('x', 'gte', '5').omapSet({ ok1: '1' }),
      );
      await io.operate(
        'd',
        new WriteOp()
          .omapCmp('v', 'lt', '7')
          .cmpXattr('x', 'lt', '7')
          .cmpXattr('x', 'lte', '5')
          .cmpXattr('x', 'ne', '4')
          .omapSet({ ok2: '1' }),
      );
      await rejectsWith(io.operate('d', new WriteOp().omapCmp('v', 'gt', '7').omapSet({ bad: '1' })), 'ECANCELED');
      await rejectsWith(io.operate('d', new WriteOp().cmpXattr('x', 'lt', '3').omapSet({ bad: '1' })), 'ECANCELED');
      // a missing xattr or omap key compares as the empty value (Ceph's rule)
      await rejectsWith(io.operate('d', new WriteOp().cmpXattr('nope', 'eq', '5').omapSet({ bad: '1' })), 'ECANCELED');
      await rejectsWith(io.operate('d', new WriteOp().omapCmp('nope', 'eq', '5').omapSet({ bad: '1' })), 'ECANCELED');
      await io.operate('d', new WriteOp().cmpXattr('nope', 'eq', '').omapCmp('nope', 'eq', '').omapSet({ ok3: '1' }));
      expect([...(await io.omapList('d')).entries.keys()].sort()).toEqual(['ok1', 'ok2', 'ok3', 'v']);
    });

    test('compound read: guards, stat, ranged read, xattrs and omap in one op', async () => {
      await io.operate(
        'r',
        new WriteOp().writeFull(Buffer.from('0123456789')).setXattr('m', 'meta').omapSet({ h: 'H', 'u:1': 'one' }),
      );
      const res = await io.operateRead(
        'r',
        new ReadOp()
          .omapCmp('h', 'eq', 'H')
          .stat()
          .read(2, 3)
          .getXattrs()
          .omapGetByKeys(['h'])
          .omapList({ prefix: 'u:' }),
      );
      expect(res[0]).toBeNull();
      expect((res[1] as { size: number }).size).toBe(10);
      expect((res[2] as Buffer).toString()).toBe('234');
      expect((res[3] as Map<string, Buffer>).get('m')?.toString()).toBe('meta');
      expect((res[4] as Map<string, Buffer>).get('h')?.toString()).toBe('H');
      expect([...(res[5] as { entries: Map<string, Buffer> }).entries.keys()]).toEqual(['u:1']);
      await rejectsWith(io.operateRead('r', new ReadOp().omapCmp('h', 'eq', 'X').stat()), 'ECANCELED');
    });

    test('8 concurrent writers doing omapCmp-guarded increments end with the exact count', async () => {
      await io.operate('ctr', new WriteOp().create(true).omapSet({ n: '0' }));
      const perWriter = 25;
      let retries = 0;
      const writer = async () => {
        for (let i = 0; i < perWriter; i++) {
          for (;;) {
            const cur = (await io.omapGetByKeys('ctr', ['n'])).get('n')!.toString();
            try {
              await io.operate('ctr', new WriteOp().omapCmp('n', 'eq', cur).omapSet({ n: String(Number(cur) + 1) }));
              break;
            } catch (e) {
              if (!isErrno(e, 'ECANCELED')) throw e;
              retries++;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, writer));
      expect((await io.omapGetByKeys('ctr', ['n'])).get('n')!.toString()).toBe(String(8 * perWriter));
      expect(retries).toBeGreaterThan(0); // the writers really did race
    });

    test('object listing is paged and per namespace; ALL_NAMESPACES sees every namespace', async () => {
      const other = io.withNamespace(`${io.namespace}-other`);
      for (let i = 0; i < 25; i++) await io.writeFull(`obj${i}`, Buffer.from('x'));
      await other.writeFull('elsewhere', Buffer.from('y'));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await io.list(cursor, 10);
        seen.push(...page.objects.map((o) => o.oid));
        expect(page.objects.every((o) => o.namespace === io.namespace)).toBe(true);
        cursor = page.cursor;
      } while (cursor);
      expect(seen.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `obj${i}`).sort());
      const all = io.withNamespace(ALL_NAMESPACES);
      const found: string[] = [];
      cursor = undefined;
      do {
        const page = await all.list(cursor, 1000);
        found.push(
          ...page.objects.filter((o) => o.namespace.startsWith(io.namespace)).map((o) => `${o.namespace}/${o.oid}`),
        );
        cursor = page.cursor;
      } while (cursor);
      expect(found).toContain(`${other.namespace}/elsewhere`);
      expect(found.length).toBe(26);
    });

    test('watch/notify: a watcher receives the payload; unwatch stops delivery', async () => {
      await io.writeFull('w', Buffer.alloc(0));
      const got: string[] = [];
      let resolve!: () => void;
      const arrived = new Promise<void>((r) => {
        resolve = r;
      });
      const h = await io.watch('w', (ev) => {
        got.push(ev.payload.toString());
        resolve();
      });
      const res = await io.notify('w', 'ping', 5000);
      await arrived;
      expect(got).toEqual(['ping']);
      expect(res.acks.length).toBe(1);
      await h.unwatch();
      const res2 = await io.notify('w', 'pong', 1000);
      expect(res2.acks.length).toBe(0);
      await rejectsWith(
        io.watch('nope', () => undefined),
        'ENOENT',
      );
    });
  });
}
