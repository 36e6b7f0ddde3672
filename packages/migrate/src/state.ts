/**
 * The migration's state, kept in the store (RADOS namespace "<store namespace>migrate") so every
 * node and every worker sees it (ADR 0012):
 *
 *   object `migration`     omap r:<rmb user> -> UserRow, c:source -> default source URI
 *   object `user.<rmb user>` omap s -> UserState (status, attempts, last error, lease, counters),
 *                            f:<source folder> -> FolderState, e:<ms>:<seq> -> Event,
 *                            j:<mailbox id> -> Journal (mail objects being written)
 *
 * A user's state changes only through a compound op guarded by an omap compare of its `s` value,
 * so two workers never both take a user (the lease) and no transition is lost.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type IoCtx, WriteOp, isErrno, type OmapPage } from '@rmb/rados';
import type { UserRow } from './users.js';

/** Where a user is in the migration. */
export type UserStatus =
  'pending' | 'planned' | 'copying' | 'synced' | 'verified' | 'cut-over' | 'rolled-back' | 'failed' | 'blocked';

/** Counters of one sync run of one user. */
export interface RunCounters {
  folders: number;
  foldersCreated: number;
  foldersRenamed: number;
  foldersDeleted: number;
  foldersRecopied: number;
  /** Messages whose bodies were fetched and written. */
  copied: number;
  copiedBytes: number;
  /** Messages whose flags were changed in rmb. */
  flagsChanged: number;
  expunged: number;
  /** Messages that could not be copied (named in `problems`). */
  skipped: number;
  /** The source changed while a folder was copied (run again). */
  sourceChanged: boolean;
}

/** A user's migration state (omap `s`). */
export interface UserState {
  status: UserStatus;
  /** Completed delta syncs after the first full one. */
  deltas: number;
  /** Failed attempts since the last success. */
  attempts: number;
  lastError?: string;
  /** The exit code that error leads to (errors.ts). */
  lastExit?: number;
  /** Held by one worker until `until` (ms since epoch). */
  lease?: { owner: string; until: number };
  /** The last run's counters. */
  lastRun?: RunCounters;
  /** The last plan (folders, messages, bytes, warnings). */
  plan?: { folders: number; messages: number; bytes: number; warnings: string[] };
  /** The last verification: level and differences by category. */
  verify?: {
    level: number;
    at: number;
    differences: Record<string, number>;
    messages: number;
    bytes: number;
    /** Per source folder, the UIDNEXT below which level 2 compared every message's bytes with no difference. */
    contentMarks?: Record<string, number>;
  };
  /** The cut-over, once done: when, how long the user was frozen (ms), final passes, messages they copied. */
  cutover?: { at: number; frozenMs: number; passes: number; copied: number };
  /**
   * The rollback (rollback.ts): while one runs, the last rmb UID copied back per mailbox id
   * (`progress`, so a rerun appends nothing twice); once done, when and what it copied back.
   */
  rollback?: {
    progress?: Record<string, number>;
    at?: number;
    appended?: number;
    flagsSet?: number;
    markedDeleted?: number;
  };
  /** Problems of the last run, each a sentence naming the folder and UID. */
  problems?: string[];
  updated: number;
}

/** What the migration knows of one source folder and the rmb mailbox it went to (omap `f:<name>`). */
export interface FolderState {
  /** The rmb mailbox name and id. */
  dest: string;
  mailboxId: string;
  uidvalidity: number;
  uidnext: number;
  messages: number;
  highestModseq?: number;
  /** rmb's HIGHESTMODSEQ right after the migration's last write. */
  destModseq: number;
  /** UID ranges the migration wrote, [first, last] inclusive, ascending. */
  copied: [number, number][];
  subscribed: boolean;
  specialUse: string | null;
  /**
   * rmb's UIDNEXT when the user was cut over: mail at or above it arrived in rmb afterwards (what
   * a rollback copies back). Set by the cut-over.
   */
  cutoverUidnext?: number;
  /** rmb UIDs (ranges, inclusive) of mail post-sync copied from the source after the cut-over. */
  postSynced?: [number, number][];
}

/** The state of a source folder nothing has been copied from yet, going to rmb mailbox `dest` (its id). */
export function freshFolderState(
  f: { uidvalidity: number; subscribed: boolean; specialUse: string | null },
  dest: string,
  mailboxId: string,
): FolderState {
  return {
    dest,
    mailboxId,
    uidvalidity: f.uidvalidity,
    uidnext: 1,
    messages: 0,
    destModseq: 0,
    copied: [],
    subscribed: f.subscribed,
    specialUse: f.specialUse,
  };
}

/** A state transition (omap `e:`). */
export interface MigrationEvent {
  at: number;
  from: UserStatus | null;
  to: UserStatus;
  reason: string;
}

/** Mail objects of one mailbox being written by a run, before their index commit (omap `j:<mailbox id>`). */
export interface Journal {
  /** Each object with the UID it is written for and an upper bound of its size in bytes (for its stripes). */
  objects: { uid: number; oid: string; size: number }[];
}

/** The state was changed by another worker meanwhile, or the lease is held by another. */
export class LeaseLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseLost';
  }
}

const REGISTRY = 'migration';
let eventSeq = 0;
const userOid = (user: string) => `user.${user}`;
const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

/**
 * Whether the worker that holds a lease is known to be gone: an owner "<host>:<pid>:<run>" on this
 * host whose process no longer exists (a run killed with -9 leaves its lease behind). Owners on
 * other hosts are never presumed gone: their leases run out.
 */
export function ownerGone(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Merge a UID range into ascending, non-overlapping ranges. */
export function addRange(ranges: [number, number][], lo: number, hi: number): [number, number][] {
  const all = [...ranges, [lo, hi] as [number, number]].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** Whether `uid` lies in one of `ranges`. */
export function inRanges(ranges: [number, number][], uid: number): boolean {
  return ranges.some(([lo, hi]) => uid >= lo && uid <= hi);
}

/** The migration state on one IoCtx (the store's pool, namespace "<ns>migrate"). */
export class MigrationState {
  constructor(readonly io: IoCtx) {}

  /** Every key/value under `prefix` of object `oid`, paged (empty when the object is absent). */
  private async list(oid: string, prefix: string): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    let after: string | undefined;
    for (;;) {
      let page: OmapPage;
      try {
        page = await this.io.omapList(oid, { prefix, startAfter: after, max: 1000 });
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return out;
        throw e;
      }
      for (const [k, v] of page.entries) out.set(k, v);
      if (!page.more) return out;
      after = [...page.entries.keys()].pop();
    }
  }

  /**
   * Record users (a users file's rows) and, when given, the default source URI. A user already
   * known keeps its state (its row is updated); a new one starts `pending`.
   */
  async importUsers(rows: UserRow[], defaultSource?: string): Promise<{ added: number; updated: number }> {
    const known = await this.list(REGISTRY, 'r:');
    const set: Record<string, Buffer> = {};
    for (const r of rows) set[`r:${r.rmbUser}`] = enc(r);
    if (defaultSource) set['c:source'] = Buffer.from(defaultSource);
    await this.io.operate(REGISTRY, new WriteOp().omapSet(set));
    let added = 0;
    for (const r of rows) {
      try {
        await this.io.operate(
          userOid(r.rmbUser),
          new WriteOp().create(true).omapSet({
            s: enc({ status: 'pending', deltas: 0, attempts: 0, updated: Date.now() } satisfies UserState),
          }),
        );
        added++;
        await this.event(r.rmbUser, null, 'pending', 'imported');
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
      }
    }
    return { added, updated: rows.filter((r) => known.has(`r:${r.rmbUser}`)).length };
  }

  /** The default source URI recorded at import, if any. */
  async defaultSource(): Promise<string | undefined> {
    try {
      return (await this.io.omapGetByKeys(REGISTRY, ['c:source'])).get('c:source')?.toString();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  /** Every imported user, by rmb user name. */
  async users(): Promise<UserRow[]> {
    return [...(await this.list(REGISTRY, 'r:')).values()].map((v) => JSON.parse(v.toString()) as UserRow);
  }

  /** A user's state and its raw value (for a guarded change). Throws Error when the user was never imported. */
  private async readState(user: string): Promise<{ state: UserState; raw: Buffer }> {
    const got = await this.io.omapGetByKeys(userOid(user), ['s']);
    const raw = got.get('s');
    if (!raw) throw new Error(`user ${user} is not in the migration`);
    return { state: JSON.parse(raw.toString()) as UserState, raw };
  }

  /** A user's state. */
  async state(user: string): Promise<UserState> {
    return (await this.readState(user)).state;
  }

  /**
   * Change a user's state with `fn` in one op guarded by the value read (retried when another
   * change came in between). `fn` may throw to refuse. Returns the new state.
   */
  async change(user: string, fn: (s: UserState) => UserState): Promise<UserState> {
    for (let attempt = 0; ; attempt++) {
      const { state, raw } = await this.readState(user);
      const next = { ...fn(state), updated: Date.now() };
      try {
        await this.io.operate(userOid(user), new WriteOp().omapCmp('s', 'eq', raw).omapSet({ s: enc(next) }));
        if (next.status !== state.status) await this.event(user, state.status, next.status, next.lastError ?? 'ok');
        return next;
      } catch (e) {
        if (!isErrno(e, 'ECANCELED') || attempt > 20) throw e;
      }
    }
  }

  /** Append a transition event. */
  async event(user: string, from: UserStatus | null, to: UserStatus, reason: string): Promise<void> {
    // time, then this process's sequence (events of one worker keep their order), then a random tail
    const seq = String(eventSeq++).padStart(9, '0');
    const key = `e:${String(Date.now()).padStart(15, '0')}:${seq}:${randomBytes(3).toString('hex')}`;
    await this.io.omapSet(userOid(user), { [key]: enc({ at: Date.now(), from, to, reason } satisfies MigrationEvent) });
  }

  /** A user's events, oldest first. */
  async events(user: string): Promise<MigrationEvent[]> {
    return [...(await this.list(userOid(user), 'e:')).values()].map((v) => JSON.parse(v.toString()) as MigrationEvent);
  }

  /**
   * Take the lease of `user` for `owner` for `ms` milliseconds (or renew it). Throws LeaseLost
   * when another owner holds an unexpired lease (unless that owner is gone, see ownerGone).
   */
  async lease(user: string, owner: string, ms: number): Promise<UserState> {
    return this.change(user, (s) => {
      if (s.lease && s.lease.owner !== owner && s.lease.until > Date.now() && !ownerGone(s.lease.owner)) {
        throw new LeaseLost(`user ${user} is being migrated by ${s.lease.owner}`);
      }
      return { ...s, lease: { owner, until: Date.now() + ms } };
    });
  }

  /** Give the lease back (a no-op when another owner holds it). */
  async release(user: string, owner: string): Promise<void> {
    await this.change(user, (s) => (s.lease?.owner === owner ? { ...s, lease: undefined } : s));
  }

  /** The folder states of a user, by source folder name. */
  async folders(user: string): Promise<Map<string, FolderState>> {
    const out = new Map<string, FolderState>();
    for (const [k, v] of await this.list(userOid(user), 'f:')) out.set(k.slice(2), JSON.parse(v.toString()));
    return out;
  }

  /** Write (or with null remove) the state of a source folder. */
  async setFolder(user: string, name: string, f: FolderState | null): Promise<void> {
    if (f) await this.io.omapSet(userOid(user), { [`f:${name}`]: enc(f) });
    else await this.io.omapRm(userOid(user), [`f:${name}`]);
  }

  /** The journals of a user (objects written and maybe not committed), by mailbox id. */
  async journals(user: string): Promise<Map<string, Journal>> {
    const out = new Map<string, Journal>();
    for (const [k, v] of await this.list(userOid(user), 'j:')) out.set(k.slice(2), JSON.parse(v.toString()));
    return out;
  }

  /** Record (before writing them) or with null clear (after the commit) the objects of a chunk. */
  async setJournal(user: string, mailboxId: string, j: Journal | null): Promise<void> {
    if (j) await this.io.omapSet(userOid(user), { [`j:${mailboxId}`]: enc(j) });
    else await this.io.omapRm(userOid(user), [`j:${mailboxId}`]);
  }
}
