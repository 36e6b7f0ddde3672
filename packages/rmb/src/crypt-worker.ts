/**
 * Password-hash checks off the event loop: crypt(3) schemes ({SHA512-CRYPT}, {SHA256-CRYPT},
 * {BLF-CRYPT}, {CRYPT}) are CPU-bound JavaScript (unixcrypt, bcryptjs), so one worker thread runs
 * them. `verifyCrypt` is the main thread's side; this file is also the worker's entry point.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { verify } from 'unixcrypt';

/** A check to run: the password and the hash (with its scheme already resolved). */
interface Job {
  id: number;
  scheme: 'bcrypt' | 'sha-crypt';
  password: string;
  hash: string;
}

function check(j: Job): boolean {
  try {
    return j.scheme === 'bcrypt'
      ? bcrypt.compareSync(j.password, j.hash.replace(/^\$2y\$/, '$2b$'))
      : verify(j.password, j.hash);
  } catch {
    return false;
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (j: Job) => port.postMessage({ id: j.id, ok: check(j) }));
}

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, (ok: boolean) => void>();

/**
 * Check `password` against a crypt(3) `hash` in the worker thread: `bcrypt` for $2a$/$2b$/$2y$,
 * `sha-crypt` for $5$/$6$. Resolves false for a malformed hash; never blocks the event loop.
 */
export function verifyCrypt(scheme: Job['scheme'], password: string, hash: string): Promise<boolean> {
  if (!worker) {
    const w = new Worker(new URL(import.meta.url));
    w.on('message', (m: { id: number; ok: boolean }) => {
      waiting.get(m.id)?.(m.ok);
      waiting.delete(m.id);
      if (!waiting.size) w.unref();
    });
    w.on('error', () => {
      for (const r of waiting.values()) r(false);
      waiting.clear();
      worker = undefined;
    });
    worker = w;
  }
  const id = ++nextId;
  worker.ref();
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker!.postMessage({ id, scheme, password, hash } satisfies Job);
  });
}
