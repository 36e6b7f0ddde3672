// Helpers shared by the benchmark scripts (scripts/bench-*.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Run `jobs` (functions returning promises) `n` at a time. */
export async function pool(jobs, n) {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < jobs.length) await jobs[i++]();
    }),
  );
}

/** The repository's test corpus (testdata/corpus/**\/*.eml), sorted by path, as Buffers. */
export function loadCorpus(root) {
  const dir = join(root, 'testdata', 'corpus');
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

/** A minimal IMAP client: send a tagged command, wait for its tagged answer. */
export class Imap {
  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.waiters = [];
    this.n = 0;
    sock.on('data', (d) => {
      this.buf += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(port) {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Imap(s)));
      s.once('error', reject);
    });
  }
  async until(re) {
    for (;;) {
      const m = re.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m.index + m[0].length);
        return m[0];
      }
      await new Promise((r) => this.waiters.push(r));
    }
  }
  /** Send commands pipelined; resolves when the last one is answered. Throws on a NO/BAD. */
  async run(...cmds) {
    const tags = cmds.map(() => `t${++this.n}`);
    this.sock.write(cmds.map((c, i) => `${tags[i]} ${c}\r\n`).join(''));
    for (const t of tags) {
      const line = await this.until(new RegExp(`(^|\\r\\n)${t} (OK|NO|BAD)[^\\r]*\\r\\n`));
      if (!/ OK/.test(line)) throw new Error(`${t}: ${line.trim()}`);
    }
  }
}

/**
 * Start `rmb serve` (cli: packages/rmb/dist/src/cli.js) on `dataDir` with `--set` overrides;
 * resolves with the child and its IMAP and LMTP ports (0 where off) once it prints READY. The
 * child is killed when this process exits.
 */
export async function startRmb(cli, dataDir, sets = []) {
  const { spawn } = await import('node:child_process');
  const args = [cli, 'serve', '-s', `dataDir=${dataDir}`, '-s', 'imap.port=0', '-s', 'imap.tlsPort=null'];
  for (const s of sets) args.push('-s', s);
  const server = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => server.kill('SIGKILL'));
  return new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /READY imap=(\d*) imaps=\S* lmtp=(\d*)/.exec(out);
      if (m) resolve({ server, imap: Number(m[1] || 0), lmtp: Number(m[2] || 0) });
    });
  });
}

/** Stop a Dovecot started by scripts/dovecot-local.sh in `dir` (nothing when none runs). */
export async function stopDovecot(script, dir) {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync(script, ['stop', dir]);
  } catch {
    /* not started */
  }
}
