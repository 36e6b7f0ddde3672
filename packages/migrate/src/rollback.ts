/**
 * Rollback of a cut-over user (issue 13): the user goes back to the old server with what changed
 * in rmb since the cut-over. The route is frozen (logins and deliveries wait, sessions end on
 * every node), then per rmb mailbox:
 *   - mail that arrived after the cut-over (UIDs at or above the source's UIDNEXT recorded by the
 *     last sync) is APPENDed to the source with its flags and INTERNALDATE;
 *   - flag and keyword changes made since (entries whose modseq is above the migration's last
 *     write) are set on the source's message of the same UID (the migration kept the UIDs);
 *   - messages expunged in rmb since are marked \Deleted at the source, never expunged there;
 *   - a mailbox created in rmb after the cut-over is created at the source first.
 * Then the route goes back to `source`. Progress is kept per mailbox in the user's state, so a
 * rollback that fails half-way (the user is routed `local` again, nothing lost) can be run again
 * without appending twice. A mailbox deleted in rmb after the cut-over is left alone at the source.
 */
import type { IndexEntry, MailStore, RouteSource } from '@rmb/librmb';
import { MigrateConfigError, MigrateError } from './errors.js';
import type { Source, SourceFolder } from './source.js';
import { inRanges, type FolderState, type MigrationState } from './state.js';

/** What a rollback copied back, in total and per mailbox. */
export interface RollbackResult {
  appended: number;
  appendedBytes: number;
  flagsSet: number;
  markedDeleted: number;
  foldersCreated: string[];
  /** Per rmb mailbox: the source folder it went to and what was done there. */
  folders: { mailbox: string; folder: string; appended: number; flagsSet: number; markedDeleted: number }[];
  /** Things left alone, each a sentence. */
  notes: string[];
}

/** A rollback that could not finish; the user is routed `local` again (exit 75). */
export class RollbackFailed extends MigrateError {
  constructor(message: string) {
    super(message, 75);
    this.name = 'RollbackFailed';
  }
}

/** The source name of an rmb mailbox created after the cut-over: "/" becomes the source's delimiter. */
function sourceNameOf(rmbName: string, delimiter: string | null): string {
  return delimiter && delimiter !== '/' ? rmbName.split('/').join(delimiter) : rmbName;
}

/**
 * Roll `user` back to the old server its route names (see the file comment). The route must be
 * `local` with the old server kept (a cut-over user). `drainMs`: time for open sessions to end
 * after the freeze. Throws MigrateConfigError when the user was not cut over or the source cannot
 * be written (a Maildir tree), RollbackFailed (the user is `local` again) on any other failure.
 */
export async function rollback(
  store: MailStore,
  state: MigrationState,
  user: string,
  source: Source,
  o: { drainMs?: number } = {},
): Promise<RollbackResult> {
  const route = await store.routes.own(user);
  if (route?.state !== 'local' || !route.source) {
    throw new MigrateConfigError(`user ${user} is not a cut-over user (route ${route?.state ?? 'local'})`);
  }
  const writer = source.writer;
  if (!writer) throw new MigrateConfigError('rollback needs an IMAP source to write to');
  const old: RouteSource = route.source;
  await store.routes.set(user, { state: 'frozen', source: old }, 'rollback: frozen', 'local');
  try {
    if (o.drainMs) await new Promise((r) => setTimeout(r, o.drainMs));
    const result = await copyBack(store, state, user, source);
    await store.routes.set(user, { state: 'source', source: old }, 'rollback: done', 'frozen');
    return result;
  } catch (e) {
    const reason = `rollback failed, back to rmb: ${(e as Error).message}`;
    await store.routes.set(user, { state: 'local', source: old }, reason, 'frozen');
    throw new RollbackFailed(reason);
  }
}

async function copyBack(
  store: MailStore,
  state: MigrationState,
  user: string,
  source: Source,
): Promise<RollbackResult> {
  const writer = source.writer!;
  const r: RollbackResult = {
    appended: 0,
    appendedBytes: 0,
    flagsSet: 0,
    markedDeleted: 0,
    foldersCreated: [],
    folders: [],
    notes: [],
  };
  const folders = await state.folders(user);
  const byId = new Map<string, [string, FolderState]>();
  for (const [name, f] of folders) byId.set(f.mailboxId, [name, f]);
  const srcFolders = await source.folders();
  const srcByName = new Map<string, SourceFolder>(srcFolders.map((f) => [f.name, f]));
  const delimiter = srcFolders.find((f) => f.delimiter)?.delimiter ?? '/';
  const progress = { ...((await state.state(user)).rollback?.progress ?? {}) };
  const u = await store.user(user);
  const boxes = await u.mailboxes();
  const live = new Set(boxes.map((b) => b.id));
  for (const [name, f] of folders) {
    if (!live.has(f.mailboxId)) r.notes.push(`${f.dest} was deleted in rmb: ${name} is left alone at the source`);
  }
  for (const info of boxes) {
    const known = byId.get(info.id);
    const folder = known ? known[0] : sourceNameOf(info.name, delimiter);
    const fs = known?.[1];
    const src = srcByName.get(folder);
    if (!src) {
      await writer.create(folder);
      r.foldersCreated.push(folder);
    } else if (fs && src.uidvalidity !== fs.uidvalidity) {
      r.notes.push(`${folder}: UIDVALIDITY changed at the source; only new mail is copied back`);
    }
    const sameUids = !!fs && !!src && src.uidvalidity === fs.uidvalidity;
    const boundary = fs ? (fs.cutoverUidnext ?? fs.uidnext) : 1;
    const fromSource = fs?.postSynced ?? [];
    const done = progress[info.id] ?? 0;
    const mb = u.mailboxOf(info);
    const here = { mailbox: info.name, folder, appended: 0, flagsSet: 0, markedDeleted: 0 };
    const kept = new Set<number>();
    for await (const page of mb.entryPages(1)) {
      for (const e of page as IndexEntry[]) {
        kept.add(e.uid);
        if (e.uid >= boundary) {
          // mail post-sync brought from the source is there already
          if (e.uid <= done || inRanges(fromSource, e.uid)) continue;
          const data = await u.messageBytes(e);
          await writer.append(folder, data, e.flags, e.internalDate);
          progress[info.id] = e.uid;
          await state.change(user, (s) => ({ ...s, rollback: { ...s.rollback, progress: { ...progress } } }));
          here.appended++;
          r.appendedBytes += data.length;
        } else if (sameUids && fs && e.modseq > fs.destModseq) {
          await writer.setFlags(folder, e.uid, e.flags);
          here.flagsSet++;
        }
      }
    }
    if (sameUids && fs && src) {
      // what the migration copied and rmb no longer has was expunged in rmb after the cut-over
      const open = await source.open(src);
      const gone = (await open.uids()).filter((uid) => uid < boundary && !kept.has(uid) && inRanges(fs.copied, uid));
      await writer.markDeleted(folder, gone);
      here.markedDeleted = gone.length;
    }
    r.appended += here.appended;
    r.flagsSet += here.flagsSet;
    r.markedDeleted += here.markedDeleted;
    if (here.appended || here.flagsSet || here.markedDeleted || !src) r.folders.push(here);
  }
  return r;
}
