/**
 * Runs `plan`, `sync` and `verify` over many users: each user under a lease in the migration
 * state (so two workers, on one node or several, never work one user), a per-source-host
 * connection budget, shared throttles, and the state machine
 * `pending → planned → copying → synced (delta n) → verified`, with `failed` (attempts, last
 * error) and `blocked` (an operator must act). Every transition is an event in the state.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { MailStore } from '@rmb/librmb';
import { Blocked, MigrateConfigError, MigrateError, exitCodeOf } from './errors.js';
import { rmbName } from './names.js';
import type { Source } from './source.js';
import { openImapSource } from './source-imap.js';
import { openMaildirSource } from './source-maildir.js';
import { maildirOf, parseSourceUri } from './source-uri.js';
import { LeaseLost, type MigrationState, type UserState } from './state.js';
import { cutover } from './cutover.js';
import { rollback } from './rollback.js';
import { postSync } from './post-sync.js';
import { DEFAULT_SYNC, type Progress, type SyncOptions, UserSync } from './sync.js';
import { HostBudget, Throttle } from './throttle.js';
import { resolveSecret, type UserRow } from './users.js';
import { differenceCount, verifyUser, type VerifyResult } from './verify.js';

/** An event of a run, for the progress display or NDJSON output. */
export type RunEvent =
  | { type: 'user-start'; user: string; action: string }
  | ({ type: 'progress' } & Progress)
  | { type: 'user-done'; user: string; action: string; status: string; exitCode: number; detail: unknown }
  | { type: 'user-failed'; user: string; action: string; status: string; exitCode: number; error: string };

/** Options of a run over many users. */
export interface RunOptions {
  /** Users to work on (rmb names); default all imported. */
  users?: string[];
  wave?: string;
  /** Users worked on at once (default 4). */
  concurrency?: number;
  /** Connections to one source host at once (default 8). */
  connectionsPerHost?: number;
  maxMsgsPerSec?: number;
  maxBytesPerSec?: number;
  dryRun?: boolean;
  /** The source URI for users whose row has none (else the one recorded at import). */
  source?: string;
  /** The master user's login form on IMAP sources. */
  masterForm?: 'sasl' | 'star';
  /** Lease length, ms (default 120000); renewed between chunks. */
  leaseMs?: number;
  sync?: Partial<SyncOptions>;
  /** Verification level (verify only). */
  level?: 0 | 1 | 2;
  onEvent?: (e: RunEvent) => void;
  /** Opens a user's source in place of the URI (embedding, tests); default openSource. */
  sourceOf?: (row: UserRow) => Promise<Source>;
}

/** What one user's action ended with. */
export interface UserOutcome {
  user: string;
  exitCode: number;
  status: string;
  error?: string;
  detail?: unknown;
}

/** The exit code of a whole run and every user's outcome. */
export interface RunResult {
  exitCode: number;
  users: UserOutcome[];
}

/** Open the source of a user row. Throws MigrateConfigError, SourceAuthError, SourceUnavailable. */
export async function openSource(
  row: UserRow,
  defaultUri: string | undefined,
  masterForm?: 'sasl' | 'star',
): Promise<Source> {
  const uri = row.source ?? defaultUri;
  if (!uri) throw new MigrateConfigError(`user ${row.rmbUser}: no source URI (row or --source)`);
  const u = parseSourceUri(uri);
  if (u.kind === 'maildir') return openMaildirSource(maildirOf(u.path, row.sourceUser), u.layout);
  if (row.auth === 'none') throw new MigrateConfigError(`user ${row.rmbUser}: an IMAP source needs a password`);
  return openImapSource({
    host: u.host,
    port: u.port,
    secure: u.secure,
    insecure: u.insecure,
    user: row.sourceUser,
    password: resolveSecret(row.secret!),
    ...(row.auth === 'master' ? { masterUser: row.masterUser, masterForm: masterForm ?? 'sasl' } : {}),
  });
}

/** host:port of a row's source (the key of the connection budget). */
function hostKey(row: UserRow, defaultUri?: string): string {
  try {
    const u = parseSourceUri(row.source ?? defaultUri ?? '');
    return u.kind === 'imap' ? `${u.host}:${u.port}` : 'maildir';
  } catch {
    return 'invalid';
  }
}

/** Per-user work of a run. */
type Work = (row: UserRow, source: Source, ctx: { keepAlive: () => Promise<void> }) => Promise<UserOutcome>;

/** The runner of one `rmb migrate` invocation. */
export class Runner {
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  constructor(
    readonly store: MailStore,
    readonly state: MigrationState,
  ) {}

  private async select(o: RunOptions): Promise<UserRow[]> {
    const all = await this.state.users();
    if (o.users?.length) {
      const unknown = o.users.filter((u) => !all.some((r) => r.rmbUser === u));
      if (unknown.length) throw new MigrateConfigError(`not in the migration: ${unknown.join(', ')}`);
    }
    return all.filter((r) => (!o.users?.length || o.users.includes(r.rmbUser)) && (!o.wave || r.wave === o.wave));
  }

  /** Run `work` for every selected user, `concurrency` at a time. */
  private async each(action: string, o: RunOptions, work: Work): Promise<RunResult> {
    const rows = await this.select(o);
    const defaultUri = o.source ?? (await this.state.defaultSource());
    const budget = new HostBudget(o.connectionsPerHost ?? 8);
    const leaseMs = o.leaseMs ?? 120000;
    const out: UserOutcome[] = [];
    let i = 0;
    const worker = async () => {
      while (i < rows.length) {
        const row = rows[i++];
        out.push(await this.one(action, row, defaultUri, budget, leaseMs, o, work));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 4, rows.length)) }, worker));
    return { exitCode: exitCodeOf(out.map((x) => x.exitCode)), users: out };
  }

  private async one(
    action: string,
    row: UserRow,
    defaultUri: string | undefined,
    budget: HostBudget,
    leaseMs: number,
    o: RunOptions,
    work: Work,
  ): Promise<UserOutcome> {
    const user = row.rmbUser;
    try {
      await this.state.lease(user, this.owner, leaseMs);
    } catch (e) {
      if (e instanceof LeaseLost) return { user, exitCode: 75, status: 'leased', error: e.message };
      throw e;
    }
    o.onEvent?.({ type: 'user-start', user, action });
    const release = await budget.acquire(hostKey(row, defaultUri));
    let source: Source | undefined;
    let lastRenew = Date.now();
    const keepAlive = async () => {
      if (Date.now() - lastRenew < leaseMs / 3) return;
      lastRenew = Date.now();
      await this.state.lease(user, this.owner, leaseMs);
    };
    try {
      source = o.sourceOf ? await o.sourceOf(row) : await openSource(row, defaultUri, o.masterForm);
      const r = await work(row, source, { keepAlive });
      o.onEvent?.({ type: 'user-done', user, action, status: r.status, exitCode: r.exitCode, detail: r.detail });
      return r;
    } catch (e) {
      const err = e as Error;
      const exitCode = e instanceof MigrateError ? e.exitCode : 75;
      const status = e instanceof Blocked ? 'blocked' : 'failed';
      if (!o.dryRun) {
        await this.state
          .change(user, (s) => ({
            ...s,
            // a failed post-sync or rollback leaves a cut-over user cut over (the route says where it lives)
            status: ['post-sync', 'rollback'].includes(action) ? s.status : (status as UserState['status']),
            attempts: s.attempts + 1,
            lastError: err.message,
            lastExit: exitCode,
          }))
          .catch(() => undefined);
      }
      o.onEvent?.({ type: 'user-failed', user, action, status, exitCode, error: err.message });
      return { user, exitCode, status, error: err.message };
    } finally {
      release();
      await source?.close().catch(() => undefined);
      await this.state.release(user, this.owner).catch(() => undefined);
    }
  }

  /**
   * Discovery per user: folders with STATUS, the rmb name each goes to, special-use, totals and
   * warnings (names changed by the mapping, rmb mailboxes that would block). Users become `planned`.
   */
  async plan(o: RunOptions = {}): Promise<RunResult> {
    return this.each('plan', o, async (row, source) => {
      const folders = await source.folders();
      const warnings: string[] = [];
      const map = folders.map((f) => {
        const dest = rmbName(f.name, f.delimiter, o.sync?.altChar ?? '_');
        if (dest !== f.name.split(f.delimiter ?? '\u0000').join('/')) warnings.push(`${f.name} becomes ${dest}`);
        return { source: f.name, dest, ...f };
      });
      const rmbUser = await this.store.user(row.rmbUser);
      const states = await this.state.folders(row.rmbUser);
      const ours = new Set([...states.values()].map((s) => s.mailboxId));
      for (const b of await rmbUser.mailboxes()) {
        if (ours.has(b.id)) continue;
        const c = await rmbUser.mailboxOf(b).counters();
        if (c.uidnext !== 1) warnings.push(`rmb mailbox ${b.name} already holds mail: the user would be blocked`);
      }
      const totals = {
        folders: folders.length,
        messages: folders.reduce((a, f) => a + f.messages, 0),
        bytes: folders.reduce((a, f) => a + (f.size ?? 0), 0),
      };
      if (!o.dryRun) {
        await this.state.change(row.rmbUser, (s) => ({
          ...s,
          status: s.status === 'pending' ? 'planned' : s.status,
          plan: { ...totals, warnings },
        }));
      }
      return {
        user: row.rmbUser,
        exitCode: 0,
        status: 'planned',
        detail: { namespace: await source.namespace(), map, ...totals, warnings },
      };
    });
  }

  /** Sync every selected user (see UserSync). Exit 2 when a source changed during its sync. */
  async sync(o: RunOptions = {}): Promise<RunResult> {
    const throttle = new Throttle(o.maxMsgsPerSec ?? 0, o.maxBytesPerSec ?? 0);
    return this.each('sync', o, async (row, source, ctx) => {
      const user = row.rmbUser;
      const before = await this.state.state(user);
      if (!o.dryRun) await this.state.change(user, (s) => ({ ...s, status: 'copying', lastError: undefined }));
      const sync = new UserSync(this.store, this.state, user, source, {
        ...DEFAULT_SYNC,
        ...o.sync,
        dryRun: !!o.dryRun,
        throttle,
        keepAlive: ctx.keepAlive,
        onProgress: (p) => o.onEvent?.({ type: 'progress', ...p }),
      });
      const counters = await sync.run();
      const first = !['synced', 'verified'].includes(before.status) && before.deltas === 0 && !before.lastRun;
      if (!o.dryRun) {
        await this.state.change(user, (s) => ({
          ...s,
          status: 'synced',
          deltas: first ? 0 : s.deltas + 1,
          attempts: 0,
          lastError: undefined,
          lastExit: counters.sourceChanged ? 2 : 0,
          lastRun: counters,
          problems: sync.problems,
        }));
      }
      return {
        user,
        exitCode: counters.sourceChanged ? 2 : 0,
        status: o.dryRun ? 'dry-run' : 'synced',
        detail: { counters, problems: sync.problems },
      };
    });
  }

  /**
   * Cut every selected user over (cutover.ts): frozen, final passes, verified, routed `local`;
   * on any failure routed back to `source`. Status `cut-over` when done; the frozen time is in
   * the outcome's detail and the state's last run.
   */
  async cutover(
    o: Omit<RunOptions, 'level'> & {
      level?: 0 | 1 | 2 | 'incremental';
      maxPasses?: number;
      maxFinalSyncMs?: number;
      drainMs?: number;
    } = {},
  ): Promise<RunResult> {
    return this.each('cutover', { ...o, level: undefined }, async (row, source) => {
      const r = await cutover(this.store, this.state, row.rmbUser, source, {
        maxPasses: o.maxPasses,
        maxFinalSyncMs: o.maxFinalSyncMs,
        drainMs: o.drainMs,
        level: o.level ?? 'incremental',
        sync: o.sync,
      });
      await this.state.change(row.rmbUser, (s) => ({
        ...s,
        status: 'cut-over',
        lastError: undefined,
        cutover: { at: Date.now(), frozenMs: r.frozenMs, passes: r.passes, copied: r.copied },
      }));
      return {
        user: row.rmbUser,
        exitCode: 0,
        status: 'cut-over',
        detail: { ...r, verify: r.verify.differences, hashed: r.verify.hashed },
      };
    });
  }

  /**
   * Post-sync every selected (cut-over) user (post-sync.ts): mail that reached the old server
   * after the cut-over is copied in, additive only. Exit 0 whether or not there was any.
   */
  async postSync(o: RunOptions = {}): Promise<RunResult> {
    return this.each('post-sync', o, async (row, source) => {
      const r = await postSync(this.store, this.state, row.rmbUser, source, {
        altChar: o.sync?.altChar,
        largeMessageBytes: o.sync?.largeMessageBytes,
      });
      return { user: row.rmbUser, exitCode: 0, status: 'cut-over', detail: r };
    });
  }

  /**
   * Roll every selected (cut-over) user back to the source (rollback.ts): what changed in rmb
   * since the cut-over is copied back, the route goes to `source`, the status to `rolled-back`.
   */
  async rollback(o: RunOptions & { drainMs?: number } = {}): Promise<RunResult> {
    return this.each('rollback', o, async (row, source) => {
      const r = await rollback(this.store, this.state, row.rmbUser, source, { drainMs: o.drainMs });
      await this.state.change(row.rmbUser, (s) => ({
        ...s,
        status: 'rolled-back',
        lastError: undefined,
        rollback: { at: Date.now(), appended: r.appended, flagsSet: r.flagsSet, markedDeleted: r.markedDeleted },
      }));
      return { user: row.rmbUser, exitCode: 0, status: 'rolled-back', detail: r };
    });
  }

  /** Verify every selected user at `level`; a user with differences exits 65 (EX_DATAERR). */
  async verify(o: RunOptions = {}): Promise<RunResult> {
    const level = o.level ?? 1;
    return this.each('verify', o, async (row, source) => {
      const r: VerifyResult = await verifyUser(this.store, row.rmbUser, source, level, {
        altChar: o.sync?.altChar,
        largeMessageBytes: o.sync?.largeMessageBytes,
      });
      const n = differenceCount(r);
      await this.state.change(row.rmbUser, (s) => ({
        ...s,
        status: n === 0 && s.status === 'synced' ? 'verified' : n > 0 && s.status === 'verified' ? 'synced' : s.status,
        verify: {
          level,
          at: Date.now(),
          differences: r.differences,
          messages: r.rmb.messages,
          bytes: r.rmb.bytes,
          // bytes compared without a difference need not be compared again by the cut-over
          ...(level === 2 && n === 0 ? { contentMarks: r.contentMarks } : { contentMarks: s.verify?.contentMarks }),
        },
      }));
      if (n > 0) {
        return { user: row.rmbUser, exitCode: 65, status: 'differences', error: `${n} difference(s)`, detail: r };
      }
      return { user: row.rmbUser, exitCode: 0, status: 'verified', detail: r };
    });
  }
}
