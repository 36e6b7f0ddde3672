/**
 * Helpers of the migration suites: run `rmb migrate ...` as a child process, and take what a
 * client sees of an account over IMAP (every selectable folder's UIDVALIDITY, UIDNEXT,
 * special-use, subscription, and each message's UID, flags, INTERNALDATE, RFC822.SIZE and a
 * SHA-256 of BODY[]), so two servers can be compared without the tool's own verifier.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ImapFlow } from 'imapflow';
import { rmSync } from 'node:fs';
import { cli, plainImapFlow, type ReferenceDovecot, type ServerChild } from './harness.js';

/** What a `rmb migrate` run printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout's NDJSON lines, parsed (with --json). */
  events: Record<string, unknown>[];
}

/** Run `rmb migrate <args>` on `dataDir` (more `--set`s in `sets`), with extra environment. */
export function migrateCli(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
  sets: string[] = [],
  onLine?: (line: string, kill: () => void) => void,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [cli, 'migrate', ...args, '-s', `dataDir=${dataDir}`, '-s', 'log.level=warn', ...sets.flatMap((s) => ['-s', s])],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let partial = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) onLine?.(l, () => p.kill('SIGKILL'));
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        });
      resolve({ code, stdout, stderr, events });
    });
  });
}

/** One message as a client sees it. */
export interface SeenMessage {
  uid: number;
  flags: string[];
  internalDate: string;
  size: number;
  sha256: string;
}

/** One folder as a client sees it. */
export interface SeenFolder {
  uidvalidity: number;
  uidnext: number;
  specialUse: string | null;
  subscribed: boolean;
  messages: SeenMessage[];
}

/** Everything a client sees of an account: selectable folders by name, and the \Noselect ones. */
export async function imapView(c: ImapFlow): Promise<{ folders: Record<string, SeenFolder>; noselect: string[] }> {
  const folders: Record<string, SeenFolder> = {};
  const noselect: string[] = [];
  const hasSpecialUse = c.capabilities.has('SPECIAL-USE');
  for (const l of await c.list()) {
    if (l.flags.has('\\Noselect') || l.flags.has('\\NonExistent')) {
      noselect.push(l.path);
      continue;
    }
    const mb = await c.mailboxOpen(l.path, { readOnly: true });
    const messages: SeenMessage[] = [];
    if (mb.exists) {
      for await (const m of c.fetch('1:*', { uid: true, flags: true, internalDate: true, size: true, source: true })) {
        messages.push({
          uid: m.uid,
          flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
          internalDate: new Date(m.internalDate!).toISOString(),
          size: m.size!,
          sha256: createHash('sha256').update(m.source!).digest('hex'),
        });
      }
    }
    folders[l.path] = {
      uidvalidity: Number(mb.uidValidity),
      uidnext: mb.uidNext,
      specialUse: hasSpecialUse && l.specialUseSource === 'extension' ? (l.specialUse ?? null) : null,
      subscribed: !!l.subscribed,
      messages: messages.sort((a, b) => a.uid - b.uid),
    };
  }
  return { folders, noselect };
}

/**
 * Compare a source's view with rmb's: every selectable source folder equal in rmb, and rmb's
 * other folders only the source's \Noselect parents (rmb has no \Noselect), empty and unsubscribed.
 */
export function expectSameAccount(
  source: Awaited<ReturnType<typeof imapView>>,
  rmb: Awaited<ReturnType<typeof imapView>>,
): void {
  const extra = Object.keys(rmb.folders).filter((n) => !(n in source.folders));
  expect(extra.sort()).toEqual(source.noselect.filter((n) => n in rmb.folders).sort());
  for (const n of extra) expect(rmb.folders[n].messages).toEqual([]);
  const pick = (v: typeof source) => Object.fromEntries(Object.keys(source.folders).map((n) => [n, v.folders[n]]));
  expect(pick(rmb)).toEqual(pick(source));
}

/** The NDJSON `user-done` / `user-failed` events of a run, by user. */
export function outcomes(run: CliRun): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const e of run.events) if (e.type === 'user-done' || e.type === 'user-failed') out[e.user as string] = e;
  return out;
}

/** Run `fn` with an imapflow session to 127.0.0.1:`port`, logged out after. */
export async function withImap<T>(
  port: number,
  user: string,
  pass: string,
  fn: (c: ImapFlow) => Promise<T>,
): Promise<T> {
  const c = plainImapFlow(port, user, pass);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout();
  }
}

/** The end of a migration suite: the rmb server and the Dovecot stopped, the data directory removed. */
export async function tearDown(srv?: ServerChild, dv?: ReferenceDovecot, dataDir?: string): Promise<void> {
  await srv?.stop();
  await dv?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
