/**
 * The cut-over of one user (issue 13, first part): freeze the route (LMTP answers 451 4.2.0 and
 * IMAP logins NO [UNAVAILABLE] on every front end), final delta syncs until one pass sees no
 * change at the source (dsync's "exit 2, run again" rule), verification, then the route flipped
 * to `local`. Any failure routes the user back to `source` with the reason. The time the user
 * was frozen is measured. The user's open sessions end with `* BYE` on every front end, which
 * watch the routes and read them again every imap.routeCheckMs; the cut-over waits `drainMs`
 * for that before its first pass.
 */
import type { MailStore, RouteSource } from '@rmb/librmb';
import { MigrateError } from './errors.js';
import type { Source } from './source.js';
import type { MigrationState, RunCounters } from './state.js';
import { DEFAULT_SYNC, type SyncOptions, UserSync } from './sync.js';
import { differenceCount, verifyUser, type VerifyResult } from './verify.js';

/** What a cut-over did. */
export interface CutoverResult {
  /** Final delta passes run (the last one saw no change). */
  passes: number;
  /** Messages copied by the final passes. */
  copied: number;
  /** How long the user was frozen, ms. */
  frozenMs: number;
  verify: VerifyResult;
}

/** A cut-over that could not finish; the user was routed back to `source` (exit 75). */
export class CutoverFailed extends MigrateError {
  constructor(message: string) {
    super(message, 75);
    this.name = 'CutoverFailed';
  }
}

const changed = (c: RunCounters) =>
  c.sourceChanged ||
  c.copied + c.flagsChanged + c.expunged + c.foldersCreated + c.foldersRenamed + c.foldersDeleted + c.foldersRecopied >
    0;

/**
 * Cut `user` over. Its route must be `source` now (the old server it names is kept for a
 * rollback). `maxPasses` bounds the final delta passes; `level` is the verification level.
 * Throws CutoverFailed (the route is `source` again) or the route's own error when the user is
 * not routed to a source.
 */
export async function cutover(
  store: MailStore,
  state: MigrationState,
  user: string,
  source: Source,
  o: {
    maxPasses?: number;
    /** Most time the final passes may take together (ms); beyond it the cut-over fails. */
    maxFinalSyncMs?: number;
    /**
     * Time given to the user's open sessions on every node to end after the freeze (ms): front
     * ends end them on the route's notify or at their next route check (imap.routeCheckMs).
     */
    drainMs?: number;
    /**
     * Verification before the flip: 0, 1 or 2 (verify.ts), or `incremental` (the default): level 1
     * of everything plus level 2 of what was copied since the last level-2 verification.
     */
    level?: 0 | 1 | 2 | 'incremental';
    sync?: Partial<SyncOptions>;
    afterSync?: () => Promise<void>;
  } = {},
): Promise<CutoverResult> {
  const route = await store.routes.own(user);
  if (route?.state !== 'source' || !route.source) {
    throw new CutoverFailed(`user ${user} is not routed to a source (route ${route?.state ?? 'local'})`);
  }
  const old: RouteSource = route.source;
  await store.routes.set(user, { state: 'frozen', source: old }, 'cut-over: frozen for the final sync', 'source');
  const t0 = Date.now();
  try {
    if (o.drainMs) await new Promise((r) => setTimeout(r, o.drainMs));
    let passes = 0;
    let copied = 0;
    for (;;) {
      if (passes >= (o.maxPasses ?? 5)) throw new Error(`the source still changed after ${passes} final passes`);
      if (passes && o.maxFinalSyncMs && Date.now() - t0 > o.maxFinalSyncMs) {
        throw new Error(
          `the final sync took over ${Math.round(o.maxFinalSyncMs / 1000)} s and the source still changed`,
        );
      }
      passes++;
      const s = new UserSync(store, state, user, source, { ...DEFAULT_SYNC, ...o.sync, dryRun: false });
      const c = await s.run();
      copied += c.copied;
      if (!changed(c)) break;
    }
    await o.afterSync?.();
    const level = o.level ?? 'incremental';
    const verify = await verifyUser(store, user, source, level === 'incremental' ? 2 : level, {
      altChar: o.sync?.altChar,
      largeMessageBytes: o.sync?.largeMessageBytes,
      ...(level === 'incremental' ? { contentFrom: (await state.state(user)).verify?.contentMarks ?? {} } : {}),
    });
    const n = differenceCount(verify);
    if (n > 0) {
      throw new Error(`verification found ${n} difference(s): ${verify.details.slice(0, 5).join('; ')}`);
    }
    // where each mailbox stood at the flip: what arrives in rmb later is what a rollback copies back
    const u = await store.user(user);
    const boxes = new Map((await u.mailboxes()).map((b) => [b.id, b]));
    for (const [name, f] of await state.folders(user)) {
      const b = boxes.get(f.mailboxId);
      if (!b) continue;
      const c = await u.mailboxOf(b).counters();
      await state.setFolder(user, name, { ...f, cutoverUidnext: c.uidnext, postSynced: [] });
    }
    if (verify.level === 2) {
      await state.change(user, (s) => ({
        ...s,
        verify: {
          level: 2,
          at: Date.now(),
          differences: {},
          messages: verify.rmb.messages,
          bytes: verify.rmb.bytes,
          contentMarks: verify.contentMarks,
        },
      }));
    }
    await store.routes.set(user, { state: 'local', source: old }, 'cut-over: done', 'frozen');
    return { passes, copied, frozenMs: Date.now() - t0, verify };
  } catch (e) {
    const reason = `cut-over failed, back to the source: ${(e as Error).message}`;
    await store.routes.set(user, { state: 'source', source: old }, reason, 'frozen');
    throw new CutoverFailed(reason);
  }
}
