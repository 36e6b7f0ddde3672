/**
 * Post-sync (issue 13): after the cut-over, mail that still reaches the old server (another MX
 * path, a queue that drained late, a client still connected there) is copied into rmb. Additive
 * only: nothing is deleted or re-flagged on either side. Per source folder, messages at or above
 * the UIDNEXT the migration last saw are appended to the rmb mailbox the folder went to (a fresh
 * rmb UID each, since rmb has moved on), with their flags and INTERNALDATE; a folder new at the
 * source is created in rmb. The folder state then records the source's new UIDNEXT and the rmb
 * UIDs written (so a rollback does not copy them back). A crash between an append and that
 * record copies that batch again on the next run: mail is doubled, never lost.
 */
import type { MailStore, NewMessage } from '@rmb/librmb';
import { AlreadyExists } from '@rmb/librmb';
import { MigrateConfigError } from './errors.js';
import { rmbName } from './names.js';
import type { Source } from './source.js';
import { addRange, freshFolderState, type FolderState, type MigrationState } from './state.js';

/** What a post-sync copied. */
export interface PostSyncResult {
  copied: number;
  copiedBytes: number;
  foldersCreated: string[];
  /** Per source folder with mail copied: the count. */
  folders: Record<string, number>;
  /** Things left alone, each a sentence. */
  notes: string[];
}

/** Messages appended per rmb commit. */
const BATCH = 50;

/**
 * Post-sync `user` (see the file comment). The user must have been cut over (route `local`).
 * Throws MigrateConfigError otherwise; the source's and the store's typed errors as sync does.
 */
export async function postSync(
  store: MailStore,
  state: MigrationState,
  user: string,
  source: Source,
  o: { altChar?: string; largeMessageBytes?: number } = {},
): Promise<PostSyncResult> {
  const route = await store.routes.own(user);
  if (route?.state !== 'local' || (await state.state(user)).status !== 'cut-over') {
    throw new MigrateConfigError(`user ${user} has not been cut over: post-sync is for after the cut-over`);
  }
  const r: PostSyncResult = { copied: 0, copiedBytes: 0, foldersCreated: [], folders: {}, notes: [] };
  const states = await state.folders(user);
  const u = await store.user(user);
  const large = o.largeMessageBytes ?? 8 << 20;
  // the list is read once; a mailbox created below is added to it
  const boxes = await u.mailboxes();
  for (const f of await source.folders()) {
    if (f.noselect) continue;
    let fs: FolderState | undefined = states.get(f.name);
    if (fs && fs.uidvalidity !== f.uidvalidity) {
      r.notes.push(`${f.name}: UIDVALIDITY changed at the source since the cut-over; left alone`);
      continue;
    }
    const from = fs ? fs.uidnext : 1;
    if (f.uidnext <= from) continue;
    // the rmb mailbox: the one the migration wrote, else (new at the source, or deleted in rmb) by name
    let target = fs ? boxes.find((b) => b.id === fs!.mailboxId) : undefined;
    const dest = target?.name ?? rmbName(f.name, f.delimiter, o.altChar ?? '_');
    target ??= boxes.find((b) => b.name === dest);
    if (!target) {
      try {
        target = await u.createMailbox(dest, null, f.subscribed);
        r.foldersCreated.push(dest);
      } catch (e) {
        if (!(e instanceof AlreadyExists)) throw e;
        target = (await u.mailboxes()).find((b) => b.name === dest)!;
      }
      boxes.push(target);
    }
    // nothing in this rmb mailbox came from the migration: all of it is newer than the cut-over
    fs ??= { ...freshFolderState(f, dest, target.id), cutoverUidnext: 1, postSynced: [] };
    const open = await source.open(f);
    const fresh = (await open.uids()).filter((uid) => uid >= from);
    for (let i = 0; i < fresh.length; i += BATCH) {
      const meta = await open.meta(fresh.slice(i, i + BATCH));
      const bodies = await open.bodies(meta.filter((m) => m.size <= large).map((m) => m.uid));
      let postSynced: [number, number][] = fs.postSynced ?? [];
      const save = async (batch: NewMessage[]) => {
        if (!batch.length) return;
        const saved = (await u.appendTo(target.name, batch)).saved;
        for (const s of saved) postSynced = addRange(postSynced, s.uid, s.uid);
        r.copied += saved.length;
        r.folders[f.name] = (r.folders[f.name] ?? 0) + saved.length;
      };
      const batch: NewMessage[] = [];
      for (const m of meta) {
        const data = bodies.get(m.uid);
        if (data) batch.push({ data, flags: m.flags, internalDate: m.internalDate });
        else {
          // a large one streams alone: one stream at a time on the source's connection
          const s = await open.stream(m.uid);
          if (s) await save([{ stream: s, flags: m.flags, internalDate: m.internalDate }]);
        }
        r.copiedBytes += m.size;
      }
      await save(batch);
      const last = meta.length ? meta[meta.length - 1].uid : fresh[Math.min(fresh.length, i + BATCH) - 1];
      fs = { ...fs, uidnext: Math.max(fs.uidnext, last + 1), postSynced };
      await state.setFolder(user, f.name, fs);
    }
    // nothing more below the source's UIDNEXT as it was opened
    fs = { ...fs, uidnext: Math.max(fs.uidnext, open.status.uidnext) };
    await state.setFolder(user, f.name, fs);
  }
  return r;
}
