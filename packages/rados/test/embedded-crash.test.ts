/**
 * The embedded backend's durability and multi-process safety: an op that resolved survives
 * kill -9 of the process that made it; guarded increments from several processes are exact.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, WriteOp } from '../src/index.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'writer.js');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rmb-crash-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('kill -9 mid-writes: every acknowledged write is readable after reopening', async () => {
  const child = spawn(process.execPath, [fixture, dir, 'writes'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = -1;
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('ack ')) acked = Number(l.slice(4));
      if (acked >= 300 && !child.killed) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', () => resolve());
  });
  expect(acked).toBeGreaterThanOrEqual(300);
  const cluster = await connect({ backend: 'embedded', path: dir });
  const io = await cluster.ioCtx('mail', 'crash');
  const index = new Map<string, Buffer>();
  let after: string | undefined;
  for (;;) {
    const p = await io.omapList('index', { startAfter: after, max: 1000 });
    for (const [k, v] of p.entries) index.set(k, v);
    if (!p.more) break;
    after = [...p.entries.keys()].pop();
  }
  for (let i = 0; i <= acked; i++) {
    const body = await io.read(`m${i}`);
    expect(body.length).toBe(2000 + (i % 7) * 1000);
    expect(body[0]).toBe(String(i % 10).charCodeAt(0));
    expect((await io.getXattr(`m${i}`, 'i')).toString()).toBe(String(i));
    expect(index.get(`u:${String(i).padStart(8, '0')}`)?.toString()).toBe(String(body.length));
  }
  await cluster.close();
});

test('guarded increments from 6 processes on one data directory end exact', async () => {
  const c0 = await connect({ backend: 'embedded', path: dir });
  await (await c0.ioCtx('mail', 'crash')).operate('ctr', new WriteOp().create(true).omapSet({ n: '0' }));
  await c0.close();
  const runs = Array.from(
    { length: 6 },
    () =>
      new Promise<string>((resolve, reject) => {
        const ch = spawn(process.execPath, [fixture, dir, 'incr', '200'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        ch.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        ch.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
      }),
  );
  const outs = await Promise.all(runs);
  expect(outs.every((o) => o.startsWith('done'))).toBe(true);
  const c = await connect({ backend: 'embedded', path: dir });
  const n = (await (await c.ioCtx('mail', 'crash')).omapGetByKeys('ctr', ['n'])).get('n')!.toString();
  expect(n).toBe('1200');
  await c.close();
});
