/**
 * One user's sync from a source into rmb, written through librmb (never by IMAP to ourselves):
 * folders created, renamed (matched by UIDVALIDITY), deleted, their UIDVALIDITY, special-use and
 * subscriptions carried; new mail copied in chunks under the source's UIDs (objects first, one
 * index commit per chunk, a journal of the chunk's objects in the migration state so a crash
 * leaves no orphan); flags and keywords made equal; expunges applied; UIDNEXT and HIGHESTMODSEQ
 * raised to the source's. The first run copies everything; each later run only what changed.
 */
import type { Mailbox, MailStore, UserStore } from '@rmb/librmb';
import { AlreadyExists, NotAllowed, NotFound } from '@rmb/librmb';
import { Blocked, SourceUnavailable } from './errors.js';
import { rmbName } from './names.js';
import type { OpenFolder, Source, SourceFolder, SourceMeta } from './source.js';
import {
  addRange,
  freshFolderState,
  inRanges,
  type FolderState,
  type MigrationState,
  type RunCounters,
} from './state.js';
import type { Throttle } from './throttle.js';

/** Tunables of a sync (see config `migrate.*`). */
export interface SyncOptions {
  /** UIDs per UID FETCH of new mail (default 250). */
  chunkMessages: number;
  /** Bytes of bodies fetched together at most (default 32 MiB). */
  chunkBytes: number;
  /** Chunks fetched ahead of the one being written (default 2). */
  prefetchChunks: number;
  /** Messages above this size (bytes) are streamed into striped objects, one by one (default 8 MiB). */
  largeMessageBytes: number;
  /** Replaces "/" inside a folder level of a "."-delimited source (default "_"). */
  altChar: string;
  /** Count what would change; write nothing. */
  dryRun: boolean;
  throttle?: Throttle;
  /** Progress: called after each chunk and folder. */
  onProgress?: (p: Progress) => void;
  /** Called with the lease renewal between chunks; throws to abort the user (lease lost). */
  keepAlive?: () => Promise<void>;
}

/** A progress report. */
export interface Progress {
  user: string;
  folder: string;
  copied: number;
  copiedBytes: number;
  /** Messages and bytes this run expects to copy, as known so far. */
  planned: number;
  plannedBytes: number;
}

/** Default tunables. */
export const DEFAULT_SYNC: SyncOptions = {
  chunkMessages: 250,
  chunkBytes: 32 << 20,
  prefetchChunks: 2,
  largeMessageBytes: 8 << 20,
  altChar: '_',
  dryRun: false,
};

/** A new empty RunCounters. */
export function emptyCounters(): RunCounters {
  return {
    folders: 0,
    foldersCreated: 0,
    foldersRenamed: 0,
    foldersDeleted: 0,
    foldersRecopied: 0,
    copied: 0,
    copiedBytes: 0,
    flagsChanged: 0,
    expunged: 0,
    skipped: 0,
    sourceChanged: false,
  };
}

let chunksWritten = 0;
/**
 * Fault injection for the crash tests: with RMB_MIGRATE_FAILPOINT="<point>:<n>" the process kills
 * itself (SIGKILL, as `kill -9` would) at `point` ("before-commit": the chunk's objects are written
 * and journaled, the index commit not made; "after-commit": committed, the journal not cleared) of
 * its n-th chunk. Unset, it does nothing.
 */
function failpoint(point: string): void {
  const spec = process.env.RMB_MIGRATE_FAILPOINT;
  if (!spec) return;
  if (point === 'before-commit') chunksWritten++;
  const [p, n] = spec.split(':');
  if (p === point && Number(n) === chunksWritten) process.kill(process.pid, 'SIGKILL');
}

/** A fetched chunk of new mail; `failed` is the message the source refused (the chunk ends before it). */
interface Chunk {
  meta: SourceMeta[];
  bodies: Map<number, Buffer>;
  failed?: { uid: number; error: string };
}

const flagKey = (flags: string[]) => JSON.stringify([...flags].sort());

/** Index of `x` in ascending `a`, or -1. */
function bsearch(a: number[], x: number): number {
  let lo = 0,
    hi = a.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (a[m] === x) return m;
    if (a[m] < x) lo = m + 1;
    else hi = m - 1;
  }
  return -1;
}

/** The sync of one user: create it with `new UserSync(...).run()`. */
export class UserSync {
  readonly counters = emptyCounters();
  readonly problems: string[] = [];
  /** Folders that stopped before a message the source refused (the run fails; the next one resumes). */
  readonly incomplete: string[] = [];
  private planned = 0;
  private plannedBytes = 0;
  private user!: UserStore;

  constructor(
    private readonly store: MailStore,
    private readonly state: MigrationState,
    private readonly rmbUser: string,
    private readonly source: Source,
    private readonly o: SyncOptions,
  ) {}

  /** Run the sync. Throws Blocked, SourceUnavailable, SourceAuthError, the store's typed errors. */
  async run(): Promise<RunCounters> {
    this.user = await this.store.user(this.rmbUser);
    if (!this.o.dryRun) await this.recoverJournals();
    const folders = await this.source.folders();
    let states = await this.state.folders(this.rmbUser);
    if (!this.o.dryRun) states = await this.renamesAndDeletes(folders, states);
    const sorted = [...folders].sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : 0));
    const synced = new Map<string, SourceFolder>();
    for (const f of sorted) {
      this.counters.folders++;
      synced.set(f.name, await this.folder(f, states.get(f.name)));
    }
    if (!this.o.dryRun) await this.mirrorList(folders);
    // the source changed while this run went on: STATUS differs from what was synced
    for (const f of await this.source.folders()) {
      const s = synced.get(f.name);
      if (!s || f.noselect) continue;
      if (s.uidnext !== f.uidnext || s.messages !== f.messages || s.highestModseq !== f.highestModseq) {
        this.counters.sourceChanged = true;
      }
    }
    if (this.incomplete.length) {
      throw new SourceUnavailable(
        `the source refused ${this.incomplete.length} message(s), each folder stopped before it: ` +
          this.incomplete.join('; '),
      );
    }
    return this.counters;
  }

  private progress(folder: string): void {
    this.o.onProgress?.({
      user: this.rmbUser,
      folder,
      copied: this.counters.copied,
      copiedBytes: this.counters.copiedBytes,
      planned: this.planned,
      plannedBytes: this.plannedBytes,
    });
  }

  /**
   * After a crash: mail objects recorded in a journal and not referenced by their index entry are
   * removed (the chunk is copied again), then the journal is cleared.
   */
  private async recoverJournals(): Promise<void> {
    const journals = await this.state.journals(this.rmbUser);
    if (!journals.size) return;
    const boxes = await this.user.mailboxes();
    for (const [id, j] of journals) {
      const info = boxes.find((b) => b.id === id);
      const referenced = new Set<string>();
      if (info) {
        const uids = j.objects.map((x) => x.uid);
        for (const e of await this.user.mailboxOf(info).entriesByUid(uids)) referenced.add(e.mail);
      }
      const orphans = j.objects.filter((x) => !referenced.has(x.oid));
      await this.user.discardStaged(orphans);
      // committed before the crash but not yet in the folder state: they are the migration's
      const committed = j.objects.filter((x) => referenced.has(x.oid)).map((x) => x.uid);
      const states = await this.state.folders(this.rmbUser);
      for (const [name, st] of states) {
        if (st.mailboxId !== id || !committed.length) continue;
        let copied = st.copied;
        for (const u of committed) copied = addRange(copied, u, u);
        await this.state.setFolder(this.rmbUser, name, { ...st, copied, highestModseq: undefined });
      }
      await this.state.setJournal(this.rmbUser, id, null);
    }
  }

  /**
   * Folders the state knows that the source no longer lists: renamed when a new source folder
   * has the same UIDVALIDITY (Dovecot keeps it on RENAME), else deleted in rmb. Returns the states.
   */
  private async renamesAndDeletes(
    folders: SourceFolder[],
    states: Map<string, FolderState>,
  ): Promise<Map<string, FolderState>> {
    const names = new Set(folders.map((f) => f.name));
    const gone = [...states].filter(([n]) => !names.has(n));
    const fresh = folders.filter((f) => !states.has(f.name) && !f.noselect);
    for (const [oldName, st] of gone.sort((a, b) => a[1].dest.length - b[1].dest.length)) {
      if (states.get(oldName) !== st) continue; // moved with its parent
      const to = fresh.find((f) => f.uidvalidity === st.uidvalidity && f.name !== 'INBOX');
      const dest = to ? rmbName(to.name, to.delimiter, this.o.altChar) : '';
      if (to && !(await this.exists(dest))) {
        try {
          await this.user.renameMailbox(st.dest, dest);
          this.counters.foldersRenamed++;
          const moved = { ...st, dest };
          states.delete(oldName);
          states.set(to.name, moved);
          await this.state.setFolder(this.rmbUser, to.name, moved);
          await this.state.setFolder(this.rmbUser, oldName, null);
          // children renamed with it: their states follow, under their new source names
          for (const [cn, cs] of [...states]) {
            if (!cs.dest.startsWith(st.dest + '/')) continue;
            const moved = { ...cs, dest: dest + cs.dest.slice(st.dest.length) };
            const newName = to.name + cn.slice(oldName.length);
            states.delete(cn);
            states.set(newName, moved);
            await this.state.setFolder(this.rmbUser, newName, moved);
            await this.state.setFolder(this.rmbUser, cn, null);
          }
          fresh.splice(fresh.indexOf(to), 1);
          continue;
        } catch (e) {
          if (!(e instanceof NotFound)) throw e;
        }
      }
    }
    for (const [oldName, st] of [...states]
      .filter(([n]) => !names.has(n))
      .sort((a, b) => b[1].dest.length - a[1].dest.length)) {
      if (states.get(oldName) !== st) continue;
      const info = (await this.user.mailboxes()).find((b) => b.name === st.dest);
      if (info && info.id === st.mailboxId) {
        try {
          await this.user.deleteMailbox(st.dest);
          this.counters.foldersDeleted++;
        } catch (e) {
          if (!(e instanceof NotAllowed || e instanceof NotFound)) throw e;
        }
      }
      states.delete(oldName);
      await this.state.setFolder(this.rmbUser, oldName, null);
    }
    return states;
  }

  private async exists(name: string): Promise<boolean> {
    return (await this.user.mailboxes()).some((b) => b.name === name);
  }

  /**
   * Make the rmb mailbox list mirror the source's: subscriptions equal (of the migrated folders),
   * rmb's unused default mailboxes that the source does not have removed, and a special-use
   * attribute that a source folder now carries taken off an unused default.
   */
  private async mirrorList(folders: SourceFolder[]): Promise<void> {
    const dests = new Map(folders.map((f) => [rmbName(f.name, f.delimiter, this.o.altChar), f]));
    const subs = new Set(await this.user.subscriptions());
    for (const [dest, f] of dests) {
      if (f.subscribed !== subs.has(dest)) await this.user.setSubscribed(dest, f.subscribed);
    }
    for (const s of subs) if (!dests.has(s)) await this.user.setSubscribed(s, false);
    const states = await this.state.folders(this.rmbUser);
    const ours = new Set([...states.values()].map((s) => s.mailboxId));
    // one read of the list; names leave the set as their mailboxes are removed
    const all = await this.user.mailboxes();
    const names = new Set(all.map((b) => b.name));
    for (const b of all) {
      if (dests.has(b.name) || ours.has(b.id) || b.name === 'INBOX') continue;
      const c = await this.user.mailboxOf(b).counters();
      if (c.uidnext !== 1) continue; // used by someone: never removed
      if ([...names].some((n) => n.startsWith(b.name + '/'))) continue;
      await this.user.deleteMailbox(b.name).catch((e: unknown) => {
        if (!(e instanceof NotFound || e instanceof NotAllowed)) throw e;
      });
      names.delete(b.name);
    }
  }

  /** Ensure the rmb mailbox of a source folder, with the source's UIDVALIDITY. */
  private async ensureMailbox(f: SourceFolder, dest: string, st: FolderState | undefined): Promise<Mailbox> {
    const boxes = await this.user.mailboxes();
    let info = boxes.find((b) => b.name === dest);
    if (info && st && info.id === st.mailboxId && st.uidvalidity !== f.uidvalidity) {
      // the source's UIDVALIDITY changed: the folder is copied again under the new one
      this.problems.push(`${f.name}: UIDVALIDITY changed from ${st.uidvalidity} to ${f.uidvalidity}; copied again`);
      this.counters.foldersRecopied++;
      if (dest === 'INBOX') {
        const tmp = `INBOX-recopy-${Date.now()}`;
        await this.user.renameMailbox('INBOX', tmp);
        await this.user.deleteMailbox(tmp);
      } else {
        // the old mailbox goes; its children come back under the new one, keeping their ids
        const tmp = `rmb-recopy-${Date.now()}`;
        await this.user.renameMailbox(dest, tmp);
        for (const k of await this.user.mailboxes()) {
          if (k.name.startsWith(tmp + '/') && !k.name.slice(tmp.length + 1).includes('/')) {
            await this.user.renameMailbox(k.name, dest + k.name.slice(tmp.length));
          }
        }
        await this.user.deleteMailbox(tmp);
      }
      await this.state.setFolder(this.rmbUser, f.name, null);
      st = undefined;
      info = (await this.user.mailboxes()).find((b) => b.name === dest);
    }
    if (!info) {
      try {
        info = await this.user.createMailbox(dest, f.specialUse, false, f.uidvalidity || undefined);
        this.counters.foldersCreated++;
      } catch (e) {
        if (!(e instanceof AlreadyExists)) throw e;
        info = (await this.user.mailboxes()).find((b) => b.name === dest)!;
      }
    }
    if (!st || st.mailboxId !== info.id) {
      // a mailbox the migration does not know: taken only when it never held mail
      const c = await this.user.mailboxOf(info).counters();
      if (c.uidnext !== 1) throw new Blocked(`rmb mailbox ${dest} already holds mail the migration did not write`);
      if (c.uidvalidity !== f.uidvalidity && f.uidvalidity) {
        await this.user.setUidvalidity(dest, f.uidvalidity);
        info = { ...info, uidvalidity: f.uidvalidity };
      }
    }
    if ((info.specialUse ?? null) !== f.specialUse && f.specialUse) {
      // the attribute moves from an unused default mailbox (e.g. rmb's "Sent") to the source's folder
      for (const b of await this.user.mailboxes()) {
        if (b.specialUse === f.specialUse && b.name !== dest) await this.user.setSpecialUse(b.name, null);
      }
      await this.user.setSpecialUse(dest, f.specialUse);
      info = { ...info, specialUse: f.specialUse };
    }
    return this.user.mailboxOf(info);
  }

  /** Sync one folder; returns its source STATUS as synced. */
  private async folder(f: SourceFolder, st: FolderState | undefined): Promise<SourceFolder> {
    const dest = rmbName(f.name, f.delimiter, this.o.altChar);
    if (this.o.dryRun) return this.dryFolder(f, st);
    const mb = await this.ensureMailbox(f, dest, st);
    if (st && st.mailboxId !== mb.id) st = undefined;
    const base: FolderState = st ?? freshFolderState(f, dest, mb.id);
    if (st?.uidvalidity !== f.uidvalidity) st = undefined;
    // known to the state before any mail is written, so a crash after the first commit is no stranger's mail
    if (!st) await this.state.setFolder(this.rmbUser, f.name, base);
    const c0 = await mb.counters();
    // fast path: nothing changed on either side since the last run (needs HIGHESTMODSEQ at the source)
    if (
      st &&
      f.highestModseq !== undefined &&
      st.highestModseq === f.highestModseq &&
      st.uidnext === f.uidnext &&
      st.messages === f.messages &&
      c0.highestModseq === st.destModseq
    ) {
      return f;
    }
    if (f.noselect) {
      await this.state.setFolder(this.rmbUser, f.name, { ...base, uidvalidity: f.uidvalidity });
      return f;
    }
    const open = await this.source.open(f);
    const status = open.status;
    // what this pass writes gets modseqs above the source's HIGHESTMODSEQ now: a client that
    // synced with the source (CONDSTORE/QRESYNC) before this pass is told of it after the cut-over
    if (status.highestModseq !== undefined && status.highestModseq > c0.highestModseq) {
      await mb.raiseCounters({ highestModseq: status.highestModseq });
    }
    const uids = await open.uids();
    let copied = st ? base.copied : [];
    // 1. existing rmb entries: expunge what the source no longer has, make flags equal
    const changed =
      st && open.condstore && st.highestModseq !== undefined
        ? await open.flags(1, 4294967295, st.highestModseq)
        : undefined;
    for await (const page of mb.entryPages(1, 1000)) {
      const gone = page.filter((e) => bsearch(uids, e.uid) < 0);
      for (const e of page) {
        if (!inRanges(copied, e.uid))
          throw new Blocked(`rmb mailbox ${dest} holds UID ${e.uid} the migration did not write`);
      }
      if (gone.length) {
        await mb.expunge(gone.map((e) => e.uid));
        this.counters.expunged += gone.length;
      }
      const kept = page.filter((e) => bsearch(uids, e.uid) >= 0);
      if (!kept.length) continue;
      const srcFlags = changed ?? (await open.flags(kept[0].uid, kept[kept.length - 1].uid));
      const groups = new Map<string, { flags: string[]; uids: number[] }>();
      for (const e of kept) {
        const sf = srcFlags.get(e.uid);
        if (!sf || flagKey(sf) === flagKey(e.flags)) continue;
        const k = flagKey(sf);
        if (!groups.has(k)) groups.set(k, { flags: sf, uids: [] });
        groups.get(k)!.uids.push(e.uid);
      }
      for (const g of groups.values()) {
        await mb.store(g.uids, 'replace', g.flags);
        this.counters.flagsChanged += g.uids.length;
      }
      await this.o.keepAlive?.();
    }
    // 2. new mail: source UIDs at or above rmb's UIDNEXT, in chunks
    const c1 = await mb.counters();
    // mail that arrived after the folder was opened (UID at or above its UIDNEXT then) is left to
    // the next pass: its source modseq is above the one the new entries get
    const fresh = uids.filter((u) => u >= c1.uidnext && (status.highestModseq === undefined || u < status.uidnext));
    const lost = uids.filter((u) => u < c1.uidnext).length - c1.messages;
    if (lost > 0) {
      this.problems.push(
        `${f.name}: ${lost} source message(s) below rmb's UIDNEXT are missing in rmb and cannot be restored`,
      );
      this.counters.skipped += lost;
    }
    this.planned += fresh.length;
    const chunks: number[][] = [];
    for (let i = 0; i < fresh.length; i += this.o.chunkMessages) chunks.push(fresh.slice(i, i + this.o.chunkMessages));
    // chunks fetched ahead (prefetchChunks) while the one before is written: the source and the
    // store work at once; memory stays bounded by (1 + prefetchChunks) chunks
    const ahead: Promise<Chunk>[] = [];
    const fetchAhead = (k: number) => {
      if (k >= chunks.length) return;
      const p = this.fetchChunk(open, chunks[k]);
      p.catch(() => undefined);
      ahead.push(p);
    };
    for (let k = 0; k <= this.o.prefetchChunks; k++) fetchAhead(k);
    for (let i = 0; i < chunks.length; i++) {
      const cur = await ahead.shift()!;
      fetchAhead(i + 1 + this.o.prefetchChunks);
      const range = await this.writeChunk(mb, open, cur, f.name);
      if (range) copied = addRange(copied, range[0], range[1]);
      if (cur.failed) {
        // the folder stops before the refused message: its UID stays free, the next run tries it again
        this.incomplete.push(`${f.name} UID ${cur.failed.uid}: ${cur.failed.error}`);
      }
      const c = await mb.counters();
      await this.state.setFolder(this.rmbUser, f.name, {
        ...base,
        uidvalidity: status.uidvalidity,
        uidnext: c.uidnext,
        messages: c.messages,
        destModseq: c.highestModseq,
        copied,
        highestModseq: undefined,
      });
      this.progress(f.name);
      await this.o.keepAlive?.();
      if (cur.failed) return status;
    }
    // 3. UIDNEXT and HIGHESTMODSEQ at least the source's
    const c2 = await mb.raiseCounters({ uidnext: status.uidnext, highestModseq: status.highestModseq });
    await this.state.setFolder(this.rmbUser, f.name, {
      ...base,
      uidvalidity: status.uidvalidity,
      uidnext: status.uidnext,
      messages: status.messages,
      ...(status.highestModseq !== undefined ? { highestModseq: status.highestModseq } : {}),
      destModseq: c2.highestModseq,
      copied,
      subscribed: f.subscribed,
      specialUse: f.specialUse,
    });
    this.progress(f.name);
    return status;
  }

  /** Dry run of a folder: count what a sync would copy. */
  private async dryFolder(f: SourceFolder, st: FolderState | undefined): Promise<SourceFolder> {
    if (f.noselect) return f;
    const known = st && st.uidvalidity === f.uidvalidity ? st.uidnext : 1;
    const open = await this.source.open(f);
    const fresh = (await open.uids()).filter((u) => u >= known);
    for (let i = 0; i < fresh.length; i += 1000) {
      for (const m of await open.meta(fresh.slice(i, i + 1000))) {
        this.counters.copied++;
        this.counters.copiedBytes += m.size;
      }
    }
    return open.status;
  }

  /**
   * Metadata and small bodies of a chunk (large ones are streamed at write time). When the source
   * refuses a body (FETCH answered NO), the batch is halved until the message is found: the chunk
   * then ends before it, and `failed` names it.
   */
  private async fetchChunk(open: OpenFolder, uids: number[]): Promise<Chunk> {
    let meta = await open.meta(uids);
    for (const m of meta) this.plannedBytes += m.size;
    const small = meta.filter((m) => m.size <= this.o.largeMessageBytes);
    const bodies = new Map<number, Buffer>();
    for (let i = 0; i < small.length;) {
      let bytes = 0;
      const batch: number[] = [];
      while (i < small.length && (batch.length === 0 || bytes + small[i].size <= this.o.chunkBytes)) {
        batch.push(small[i].uid);
        bytes += small[i].size;
        i++;
      }
      await this.o.throttle?.take(batch.length, bytes);
      const got = await this.isolate(open, batch);
      for (const [uid, b] of got.bodies) bodies.set(uid, b);
      if (got.failed) {
        const stop = got.failed.uid;
        meta = meta.filter((m) => m.uid < stop);
        return { meta, bodies, failed: got.failed };
      }
    }
    return { meta, bodies };
  }

  /** Bodies of `uids`; a refused batch is halved down to the one message that fails. */
  private async isolate(
    open: OpenFolder,
    uids: number[],
  ): Promise<{ bodies: Map<number, Buffer>; failed?: { uid: number; error: string } }> {
    try {
      return { bodies: await open.bodies(uids) };
    } catch (e) {
      if (!(e instanceof SourceUnavailable)) throw e;
      if (uids.length === 1) return { bodies: new Map(), failed: { uid: uids[0], error: e.message } };
      const half = Math.ceil(uids.length / 2);
      const a = await this.isolate(open, uids.slice(0, half));
      if (a.failed) return a;
      const b = await this.isolate(open, uids.slice(half));
      return { bodies: new Map([...a.bodies, ...b.bodies]), failed: b.failed };
    }
  }

  /**
   * Write a fetched chunk: its objects recorded in the journal first, large ones streamed, then
   * one index commit under the source's UIDs, then the journal cleared. Returns the UID range.
   */
  private async writeChunk(
    mb: Mailbox,
    open: OpenFolder,
    chunk: Chunk,
    folder: string,
  ): Promise<[number, number] | null> {
    const items = chunk.meta.filter((m) => m.size > this.o.largeMessageBytes || chunk.bodies.has(m.uid));
    for (const m of chunk.meta) {
      if (!items.includes(m)) {
        this.problems.push(`${folder}: UID ${m.uid} has no body at the source (expunged meanwhile?)`);
        this.counters.skipped++;
      }
    }
    if (!items.length) return null;
    const planned = items.map((m) => ({
      uid: m.uid,
      oid: this.user.newMailOid(),
      // a stored size can only grow by CRLF normalisation (at most double): the journal over-covers stripes
      size: Math.max(1, m.size) * 2,
    }));
    await this.state.setJournal(this.rmbUser, mb.id, { objects: planned });
    const messages = [];
    for (let i = 0; i < items.length; i++) {
      const m = items[i];
      if (m.size > this.o.largeMessageBytes) {
        await this.o.throttle?.take(1, m.size);
        const s = await open.stream(m.uid);
        if (!s) {
          this.problems.push(`${folder}: UID ${m.uid} vanished at the source before it was copied`);
          this.counters.skipped++;
          continue;
        }
        const staged = await this.user.stage(
          mb.id,
          s.source,
          s.size || m.size,
          m.flags,
          m.internalDate,
          planned[i].oid,
        );
        messages.push({ uid: m.uid, staged, flags: m.flags, internalDate: m.internalDate, modseq: m.modseq });
      } else {
        messages.push({
          uid: m.uid,
          data: chunk.bodies.get(m.uid)!,
          oid: planned[i].oid,
          flags: m.flags,
          internalDate: m.internalDate,
          modseq: m.modseq,
        });
      }
    }
    failpoint('before-commit');
    // entries carry their own modseq at the source, else the source's HIGHESTMODSEQ at this
    // folder's open: a client that synced with the source later already has them (RFC 7162
    // §3.1.1); sources without CONDSTORE: a fresh one
    await mb.importMessages(messages, 0, open.status.highestModseq);
    failpoint('after-commit');
    await this.state.setJournal(this.rmbUser, mb.id, null);
    for (const m of messages) {
      this.counters.copied++;
      this.counters.copiedBytes += m.staged ? m.staged.size : m.data!.length;
    }
    return [items[0].uid, items[items.length - 1].uid];
  }
}
