/**
 * The embedded store's write buffer (kv-lmdb.ts): a write's reads see its own writes merged in
 * key order with the last commit, a throw writes nothing, and a data directory whose name has a
 * dot opens as a directory.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbKv } from '../src/kv-lmdb.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rmb-kv-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const b = (...bytes: number[]) => Buffer.from(bytes);

test('reads inside a write see its puts and deletes, in byte order, over the last commit', async () => {
  const kv = new LmdbKv({ path: join(dir, 'store.d') });
  expect(statSync(join(dir, 'store.d')).isDirectory()).toBe(true);
  await kv.write((t) => {
    for (const k of [b(1), b(3), b(5), b(0xff)]) t.put(k, Buffer.from(`c${k[0]}`));
  });
  const seen = await kv.write((t) => {
    t.put(b(0), Buffer.from('n0'));
    t.put(b(4), Buffer.from('n4'));
    t.put(b(3), Buffer.from('n3'));
    t.del(b(5));
    t.put(b(0xfe, 0), Buffer.from('nfe'));
    t.del(b(9));
    const inside = [...t.range(b(0), b(0xff, 0xff))].map(([k, v]) => `${k.toString('hex')}=${v.toString()}`);
    expect(t.get(b(5))).toBeUndefined();
    expect(t.get(b(3))?.toString()).toBe('n3');
    expect(t.get(b(1))?.toString()).toBe('c1');
    return inside;
  });
  expect(seen).toEqual(['00=n0', '01=c1', '03=n3', '04=n4', 'fe00=nfe', 'ff=c255']);
  const after = await kv.read((t) => [...t.range(b(0), b(0xff, 0xff))].map(([k]) => k.toString('hex')));
  expect(after).toEqual(['00', '01', '03', '04', 'fe00', 'ff']);
  await kv.close();
});

test('a write that throws leaves nothing behind, and the next write sees the commit before it', async () => {
  const kv = new LmdbKv({ path: dir });
  await kv.write((t) => t.put(b(1), Buffer.from('a')));
  await expect(
    kv.write((t) => {
      t.put(b(2), Buffer.from('b'));
      t.del(b(1));
      throw new Error('guard failed');
    }),
  ).rejects.toThrow('guard failed');
  const all = await kv.write((t) => [...t.range(b(0), b(9))].map(([k, v]) => `${k[0]}=${v.toString()}`));
  expect(all).toEqual(['1=a']);
  await kv.close();
});
