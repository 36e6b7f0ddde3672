// Helpers shared by the benchmark scripts (scripts/bench-*.mjs).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
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
  // RMB_BENCH_NODE_ARGS: node options for the server (e.g. --cpu-prof to see where its time goes)
  const nodeArgs = (process.env.RMB_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => server.kill('SIGKILL'));
  return new Promise((resolve) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /READY imap=(\d*) imaps=\S* lmtp=(\d*)(?: metrics=(\d*))?/.exec(out);
      if (m) resolve({ server, imap: Number(m[1] || 0), lmtp: Number(m[2] || 0), metrics: Number(m[3] || 0) });
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

/**
 * Postfix's smtp-source, or exit 0 with a loud SKIPPED line naming `script` when it is missing
 * (Debian: apt-get install postfix).
 */
export function smtpSourceOrSkip(script) {
  const found = ['/usr/sbin/smtp-source', '/usr/bin/smtp-source'].find((p) => existsSync(p));
  if (!found) {
    console.error(`${script}: SKIPPED: no smtp-source (Debian: apt-get install postfix); nothing measured`);
    process.exit(0);
  }
  return found;
}

/** The "Run: ... machine: ..." line every section of BENCHMARKS.md starts with. */
export function runLine(script) {
  const cpu = cpus();
  return (
    `Run: \`npm run bench\` (scripts/${script}) on ${new Date().toISOString().slice(0, 10)}; machine: ` +
    `${cpu.length} × ${cpu[0].model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}.`
  );
}

/**
 * Put `lines` into BENCHMARKS.md between the `<!-- key:start -->` and `<!-- key:end -->` markers,
 * or append them under `## title` when the markers are not there yet; also print them.
 */
export function writeSection(root, key, title, lines) {
  const file = join(root, 'BENCHMARKS.md');
  const old = readFileSync(file, 'utf8');
  const block = `<!-- ${key}:start -->\n${lines.join('\n')}\n<!-- ${key}:end -->`;
  const re = new RegExp(`<!-- ${key}:start -->[\\s\\S]*<!-- ${key}:end -->`);
  writeFileSync(file, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n## ${title}\n\n${block}\n`);
  console.log(lines.join('\n'));
}

/**
 * Start a reference Dovecot with scripts/dovecot-local.sh in `dir` for `users` ("name:password");
 * returns its IMAP and LMTP ports. Tried a second time after 3 s: a Dovecot stopped just before
 * (an earlier benchmark's, with hundreds of sessions) can still hold what a new one needs.
 */
export async function startDovecot(script, dir, users) {
  const { execFileSync } = await import('node:child_process');
  let out;
  try {
    out = execFileSync(script, ['start', dir, ...users], { encoding: 'utf8' });
  } catch {
    await new Promise((r) => setTimeout(r, 3000));
    out = execFileSync(script, ['start', dir, ...users], { encoding: 'utf8' });
  }
  return { imap: Number(/DOVECOT_IMAP_PORT=(\d+)/.exec(out)[1]), lmtp: Number(/DOVECOT_LMTP_PORT=(\d+)/.exec(out)[1]) };
}

/**
 * Where a server's time went, from its metrics endpoint (`metrics.port`): seconds spent in RADOS
 * operations and in IMAP commands, by kind (sums of the latency histograms), sorted, as one line.
 */
export async function timeProfile(port) {
  const { get } = await import('node:http');
  const text = await new Promise((resolve, reject) =>
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve(t));
    }).on('error', reject),
  );
  const sums = (name, label) =>
    [...text.matchAll(new RegExp(`^${name}_sum\\{${label}="([^"]+)"\\} (\\S+)$`, 'gm'))]
      .map((m) => [m[1], Number(m[2])])
      .sort((a, b) => b[1] - a[1]);
  const fmt = (list) =>
    list
      .slice(0, 6)
      .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
      .join(', ');
  const count = (name) =>
    [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  return (
    `RADOS operations: ${fmt(sums('rmb_rados_op_seconds', 'op'))}; ` +
    `IMAP commands: ${fmt(sums('rmb_imap_command_seconds', 'command'))}; ` +
    `index commits ${count('rmb_index_commits_total')}, lost races ${count('rmb_index_commit_retries_total')}`
  );
}
