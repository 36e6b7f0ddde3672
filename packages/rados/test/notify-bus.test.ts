/**
 * Watch/notify across processes on the embedded store (issue 14, notify-bus.ts): a notify made in
 * one process reaches watchers in others, both ways; a process killed with SIGKILL leaves a socket
 * behind that the others drop, and a process that joins later is reached.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, WriteOp, type Cluster, type IoCtx } from '../src/index.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'watcher.js');

/** A watcher child and the lines it printed. */
function child(dir: string): {
  p: ChildProcessByStdio<Writable, Readable, null>;
  lines: string[];
  wait(re: RegExp): Promise<void>;
} {
  const p = spawn(process.execPath, [fixture, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const waiters: (() => void)[] = [];
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  const wait = async (re: RegExp) => {
    const t0 = Date.now();
    while (!lines.some((l) => re.test(l))) {
      if (Date.now() - t0 > 10000) throw new Error(`no line ${re} in ${JSON.stringify(lines)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { p, lines, wait };
}

let dir: string;
let cluster: Cluster;
let io: IoCtx;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rmb-bus-'));
  cluster = await connect({ backend: 'embedded', path: dir });
  io = await cluster.ioCtx('p');
  await io.operate('x', new WriteOp().create(false).write(0, Buffer.from('x')));
});
afterEach(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a notify reaches watchers in another process, both ways', async () => {
  const got: string[] = [];
  await io.watch('x', (ev) => got.push(ev.payload.toString()));
  const c = child(dir);
  try {
    await c.wait(/^ready$/);
    // the child greeted this process when it joined: it is reached at once
    await io.notify('x', 'from-parent');
    await c.wait(/^got from-parent$/);
    c.p.stdin.write('notify from-child\n');
    const t0 = Date.now();
    while (!got.includes('from-child')) {
      if (Date.now() - t0 > 10000) throw new Error(`parent got ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // the child's own watcher got its own notify too, as a watcher in the notifying process does
    await c.wait(/^got from-child$/);
  } finally {
    c.p.kill('SIGKILL');
  }
});

test('a process killed with SIGKILL is dropped; one that joins later is reached', async () => {
  const a = child(dir);
  await a.wait(/^ready$/);
  a.p.kill('SIGKILL');
  await new Promise((r) => a.p.once('exit', r));
  // its socket is left behind
  expect(readdirSync(join(dir, 'notify')).length).toBe(2);
  // a notify to the dead peer fails quietly
  await io.notify('x', 'nobody');
  const b = child(dir);
  try {
    await b.wait(/^ready$/);
    await io.notify('x', 'late');
    await b.wait(/^got late$/);
    expect(b.lines).not.toContain('got nobody');
    // the newcomer found the dead socket while joining and removed it
    expect(readdirSync(join(dir, 'notify')).length).toBe(2);
  } finally {
    b.p.kill('SIGKILL');
  }
});

test('processes that joined at the same moment all leave cleanly (every connection closed)', async () => {
  const kids = Array.from({ length: 4 }, () => child(dir));
  await Promise.all(kids.map((k) => k.wait(/^ready$/)));
  const codes = await Promise.all(
    kids.map(
      (k) =>
        new Promise<number | null>((resolve) => {
          k.p.once('exit', (code) => resolve(code));
          k.p.stdin.write('exit\n');
        }),
    ),
  );
  // 13 would be a close() that never finished (Node's "unsettled top-level await")
  expect(codes).toEqual([0, 0, 0, 0]);
});
