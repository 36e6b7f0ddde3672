/**
 * Users and their mailbox lists: the user directory (object `users`) and each user's mailbox list
 * (object `mailboxes` in the user's namespace); names and keys in layout.ts. List changes are
 * compound ops guarded by the list object's version (assertVersion), retried.
 */
import { IndexCaches } from './index-cache.js';
import { CommitLanes } from './commit-lane.js';
import { randomUUID } from 'node:crypto';
import { type Cluster, type IoCtx, ReadOp, WriteOp, isErrno, type ObjectStat, type OmapPage } from '@rmb/rados';
import { LRUCache } from 'lru-cache';
import {
  AlreadyExists,
  InvalidName,
  LimitExceeded,
  NotAllowed,
  NotFound,
  QuotaExceeded,
  Unavailable,
  fromStoreError,
} from './errors.js';
import { DEFAULT_EXPUNGE_GRACE_MS, DEFAULT_STRIPE, type Logger, MailObjects, type StoredMeta } from './mail.js';
import { Mailbox, createIndex, indexOid } from './mailbox.js';
import { SEPARATOR, normalizeName } from './mailbox-names.js';

export { SEPARATOR, normalizeName };
import { Compactor, DEFAULT_SHARD_WIDTH } from './index-shards.js';
import { DEFAULT_LOG_RECORDS, LogTrimmer } from './log-trim.js';
import { InFlight } from './background.js';
import { Reserves } from './reserve.js';
import {
  emailIdOf,
  MAILBOXES_OID,
  MAILBOX_PREFIX,
  QUOTA_KEY,
  SUBSCRIPTION_PREFIX,
  UIDVALIDITY_KEY,
  COUNT_KEY,
  mailboxKey,
  subscriptionKey,
  userNamespace,
  reserveKey,
} from './layout.js';
import { RouteTable } from './routes.js';
import { withRetry } from './retry.js';
import { DEFAULT_USER_SHARDS, UserDirectory, userNameProblem } from './user-directory.js';
import { DEFAULT_METADATA, dropMetadata, getMetadata, type MetadataDepth, setMetadata } from './metadata.js';
import type { IndexEntry, MailboxInfo, NewMessage, SavedMessage, StagedMessage } from './types.js';

/** Mailboxes every new user gets, with their RFC 6154 special-use attribute. */
export const DEFAULT_MAILBOXES: [string, string | null][] = [
  ['INBOX', null],
  ['Drafts', '\\Drafts'],
  ['Sent', '\\Sent'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
  ['Archive', '\\Archive'],
];

export type { MailStoreOptions, QuotaLimits } from './store-options.js';
import type { MailStoreOptions, QuotaLimits } from './store-options.js';

/** The entry point of librmb: users on a RADOS cluster. */
export class MailStore {
  private readonly metaCache: LRUCache<string, StoredMeta>;
  /** The per-process copies of mailbox indexes shared by the sessions that select them (ADR 0018). */
  readonly indexCaches: IndexCaches;
  /** Group commit of this process's index changes, one lane per mailbox (commit-lane.ts). */
  readonly lanes = new CommitLanes();
  /** username -> user id. Ids never change once made, so this needs no invalidation. */
  private readonly userIds: LRUCache<string, string>;
  /**
   * "<user id>\0<mailbox name>" -> MailboxInfo last seen. A hint only: appendTo checks it
   * against the mailbox list in the same round trip as its other work (see UserStore.appendTo).
   */
  readonly boxHints: LRUCache<string, MailboxInfo>;
  private constructor(
    readonly cluster: Cluster,
    readonly root: IoCtx,
    readonly opts: Required<Omit<MailStoreOptions, 'log'>> & { log?: Logger },
  ) {
    this.metaCache = new LRUCache({ max: opts.metaCacheEntries });
    this.indexCaches = new IndexCaches(opts.indexCacheMessages);
    this.userIds = new LRUCache({ max: opts.metaCacheEntries });
    this.boxHints = new LRUCache({ max: opts.metaCacheEntries });
    this.directory = new UserDirectory(root, opts.userShards);
    this.compactor = new Compactor(this.lanes, opts.log);
    this.logTrimmer = new LogTrimmer(this.lanes, opts.changeLogRecords, opts.log);
    this.reserves = new Reserves(opts.log, this.inFlight);
    this.lanes.afterCommit = (io, oid, c) => {
      this.compactor.consider(io, oid, c);
      this.logTrimmer.consider(io, oid, c);
      this.reserves.consider(io, oid, c);
    };
  }

  /** Background writes in flight (mail object references, reserves), for settle(). */
  readonly inFlight = new InFlight();

  /**
   * Wait until the store's background work is done: compactions, change-log trims, and the writes
   * after commits (references on mail objects, reserves). Tools call it before closing the cluster.
   */
  async settle(): Promise<void> {
    await Promise.all([this.compactor.settle(), this.logTrimmer.settle(), this.inFlight.idle()]);
  }

  /** Writes each mailbox's modseq and UID reserve in its user's mailbox list (reserve.ts). */
  readonly reserves: Reserves;
  /** Trims each mailbox's change log to its last `changeLogRecords` modseqs, in the background (log-trim.ts). */
  readonly logTrimmer: LogTrimmer;

  /** Moves closed UID ranges of large indexes into shard objects, in the background (index-shards.ts). */
  readonly compactor: Compactor;

  /** The user directory: username -> id, sharded (user-directory.ts). */
  readonly directory: UserDirectory;

  /** Open the store on `cluster` (no I/O until a user is used). */
  static async open(cluster: Cluster, o: MailStoreOptions = {}): Promise<MailStore> {
    const opts = {
      pool: o.pool ?? 'mail',
      namespace: o.namespace ?? '',
      maxMailboxNameBytes: o.maxMailboxNameBytes ?? 512,
      maxMailboxDepth: o.maxMailboxDepth ?? 32,
      maxMailboxes: o.maxMailboxes ?? 10000,
      metaCacheEntries: o.metaCacheEntries ?? 10000,
      stripe: o.stripe ?? DEFAULT_STRIPE,
      expungeGraceMs: o.expungeGraceMs ?? DEFAULT_EXPUNGE_GRACE_MS,
      quota: o.quota ?? { storageBytes: 0, messages: 0 },
      metadata: o.metadata ?? DEFAULT_METADATA,
      userShards: o.userShards ?? DEFAULT_USER_SHARDS,
      indexCacheMessages: o.indexCacheMessages ?? 1_000_000,
      indexShardEntries: o.indexShardEntries ?? DEFAULT_SHARD_WIDTH,
      changeLogRecords: o.changeLogRecords ?? DEFAULT_LOG_RECORDS,
      log: o.log,
    };
    return new MailStore(cluster, await cluster.ioCtx(opts.pool, opts.namespace), opts);
  }

  /** The per-user routes of a migration (routes.ts), on this store's root namespace. */
  get routes(): RouteTable {
    return (this.routeTable ??= new RouteTable(this.root));
  }
  private routeTable?: RouteTable;

  /**
   * Check that the store answers: one read of the user directory's layout object (absent is
   * fine), which also primes its shard count (user-directory.ts).
   * Throws the store's typed error (e.g. Unavailable on a timeout) when it does not.
   */
  async check(): Promise<void> {
    try {
      await this.directory.prime();
    } catch (e) {
      throw fromStoreError(e, 'store check');
    }
  }

  /** Drop the cached id of `username` (the user was deleted). */
  forgetUser(username: string): void {
    this.userIds.delete(username);
  }

  /** The user's id, or null when the user has no mail store yet (1 round trip, 0 when cached). */
  async userId(username: string): Promise<string | null> {
    const known = this.userIds.get(username);
    if (known) return known;
    const id = await this.directory.lookup(username);
    if (id) this.userIds.set(username, id);
    return id;
  }

  /**
   * The user's store; created on first use with the default mailboxes when `create` is set.
   * Throws NotFound for an unknown user without `create`.
   */
  async user(username: string, create = true): Promise<UserStore> {
    let id = await this.userId(username);
    const isNew = !id;
    if (!id) {
      if (!create) throw new NotFound(`no such user ${username}`);
      const problem = userNameProblem(username);
      if (problem) throw new InvalidName(`user name refused: ${problem}`);
      id = await this.directory.create(username, randomUUID());
      this.userIds.set(username, id);
    }
    const u = new UserStore(
      this,
      username,
      id,
      this.root.withNamespace(userNamespace(this.opts.namespace, id)),
      this.metaCache,
    );
    // defaults are made once, at creation; mailbox('INBOX') repairs a creation cut short
    if (isNew) await u.ensureDefaults();
    return u;
  }

  /** Usernames that have a mail store, sorted. */
  async users(): Promise<string[]> {
    return this.directory.names();
  }
}

/** Thrown inside a list change that needs the default mailboxes made first (see createMailbox). */
class NeedDefaults extends Error {}

/** One user's mail: mailbox list, subscriptions, mailboxes. */
export class UserStore {
  readonly mails: MailObjects;
  private readonly listOid = MAILBOXES_OID;
  constructor(
    readonly store: MailStore,
    readonly username: string,
    readonly id: string,
    readonly io: IoCtx,
    cache: LRUCache<string, StoredMeta>,
  ) {
    this.mails = new MailObjects(io, cache, store.opts.log, store.opts.stripe, store.inFlight);
    this.mails.expungeGraceMs = store.opts.expungeGraceMs;
  }

  /** Read the whole list object: version, mailboxes, subscriptions. */
  private async readList(): Promise<{
    version?: number;
    boxes: Map<string, MailboxInfo>;
    subs: Set<string>;
    lastUidvalidity: number;
  }> {
    const boxes = new Map<string, MailboxInfo>();
    const subs = new Set<string>();
    let lastUidvalidity = 0;
    let version: number | undefined;
    let after: string | undefined;
    try {
      for (;;) {
        const op = new ReadOp().omapList({ startAfter: after, max: 1000 });
        if (version === undefined) op.stat();
        const res = await this.io.operateRead(this.listOid, op);
        const page = res[0] as OmapPage;
        if (version === undefined) version = (res[1] as ObjectStat).version;
        for (const [k, v] of page.entries) {
          if (k.startsWith(MAILBOX_PREFIX))
            boxes.set(k.slice(MAILBOX_PREFIX.length), JSON.parse(v.toString()) as MailboxInfo);
          else if (k.startsWith(SUBSCRIPTION_PREFIX)) subs.add(k.slice(SUBSCRIPTION_PREFIX.length));
          else if (k === UIDVALIDITY_KEY) lastUidvalidity = Number(v.toString());
        }
        if (!page.more) break;
        after = [...page.entries.keys()].pop();
      }
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'read mailbox list');
    }
    return { version, boxes, subs, lastUidvalidity };
  }

  /** Apply a change to the list in one op guarded by the version read. */
  private async changeList<T>(
    what: string,
    fn: (l: Awaited<ReturnType<UserStore['readList']>>, op: WriteOp) => T | Promise<T>,
  ): Promise<T> {
    try {
      return await withRetry(what, async () => {
        const l = await this.readList();
        const op = l.version === undefined ? new WriteOp().create(true) : new WriteOp().assertVersion(l.version);
        const r = await fn(l, op);
        if (op.steps.length > 1) await this.io.operate(this.listOid, op);
        return r;
      });
    } catch (e) {
      if (isErrno(e, 'EEXIST')) return this.changeList(what, fn);
      throw fromStoreError(e, what);
    }
  }

  /**
   * Change the mailbox list after reading only `keys` (and the list object's version, the guard):
   * what CREATE and DELETE need, so their cost does not grow with the number of mailboxes.
   * `fn` gets the values found and the op to fill; retried on a version conflict.
   */
  private async changeListKeys<T>(
    what: string,
    keys: string[],
    fn: (got: Map<string, Buffer>, op: WriteOp, version: number | undefined) => T | Promise<T>,
  ): Promise<T> {
    try {
      return await withRetry(what, async () => {
        let version: number | undefined;
        let got = new Map<string, Buffer>();
        try {
          const res = await this.io.operateRead(this.listOid, new ReadOp().stat().omapGetByKeys(keys));
          version = (res[0] as ObjectStat).version;
          got = res[1] as Map<string, Buffer>;
        } catch (e) {
          if (!isErrno(e, 'ENOENT')) throw e;
        }
        const op = version === undefined ? new WriteOp().create(true) : new WriteOp().assertVersion(version);
        const r = await fn(got, op, version);
        if (op.steps.length > 1) await this.io.operate(this.listOid, op);
        return r;
      });
    } catch (e) {
      if (isErrno(e, 'EEXIST')) return this.changeListKeys(what, keys, fn);
      throw fromStoreError(e, what);
    }
  }

  /** The number of mailboxes as the list's counter says, else counted from the whole list (older lists). */
  private async mailboxCount(got: Map<string, Buffer>): Promise<number> {
    const c = got.get(COUNT_KEY);
    return c ? Number(c.toString()) : (await this.readList()).boxes.size;
  }

  /**
   * Create the default mailboxes (DEFAULT_MAILBOXES, subscribed) if the user has no INBOX (first
   * login or delivery, or a creation cut short). All list entries are added in ONE guarded op, so
   * a reader sees either none of them or all of them; sessions racing here agree on one set.
   * (INBOX is never absent otherwise: it cannot be deleted and RENAME INBOX leaves a new one.)
   */
  async ensureDefaults(): Promise<void> {
    // index objects made by an attempt that lost the race for the list are removed (else orphans)
    let made: string[] = [];
    const drop = async () => {
      await Promise.all(made.map((oid) => this.io.remove(oid).catch(() => undefined)));
      made = [];
    };
    try {
      await this.changeList('create default mailboxes', async (l, op) => {
        await drop();
        if (l.boxes.has('INBOX')) return;
        let uv = Math.max(Math.floor(Date.now() / 1000), l.lastUidvalidity + 1);
        const fresh: MailboxInfo[] = [];
        for (const [name, specialUse] of DEFAULT_MAILBOXES) {
          if (!l.boxes.has(name)) fresh.push({ name, id: randomUUID(), uidvalidity: uv++, specialUse });
        }
        // the index objects first (in parallel), then the list entries: never a listed mailbox without its index
        made = fresh.map((info) => indexOid(info.id));
        await Promise.all(fresh.map((info) => createIndex(this.io, info, this.store.opts.indexShardEntries)));
        for (const info of fresh)
          op.omapSet({ [mailboxKey(info.name)]: JSON.stringify(info), [subscriptionKey(info.name)]: '' });
        op.omapSet({ [UIDVALIDITY_KEY]: String(uv - 1), [COUNT_KEY]: String(l.boxes.size + fresh.length) });
      });
    } catch (e) {
      await drop();
      throw e;
    }
  }

  /** All mailboxes, sorted by name. */
  async mailboxes(): Promise<MailboxInfo[]> {
    let l = await this.readList();
    if (!l.boxes.has('INBOX')) {
      // a user whose defaults another session is creating right now: wait for (or make) the whole set
      await this.ensureDefaults();
      l = await this.readList();
    }
    return [...l.boxes.values()].sort((a, b) =>
      a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /** Subscribed names (RFC 3501 §6.3.6), which may name mailboxes that do not exist. */
  async subscriptions(): Promise<string[]> {
    return [...(await this.readList()).subs].sort();
  }

  private norm(name: string): string {
    return normalizeName(name, this.store.opts.maxMailboxNameBytes, this.store.opts.maxMailboxDepth);
  }

  /** Open a mailbox by name. Throws NotFound. */
  async mailbox(name: string): Promise<Mailbox> {
    return (await this.lookup(this.norm(name), [])).mailbox;
  }

  /**
   * Look up mailbox `n` (normalized) in the list, reading `extra` omap keys of the list in the
   * same read (returned in `got`). INBOX is created on first use. Throws NotFound.
   */
  private async lookup(n: string, extra: string[]): Promise<{ mailbox: Mailbox; got: Map<string, Buffer> }> {
    let info: MailboxInfo | undefined;
    let got = new Map<string, Buffer>();
    try {
      got = await this.io.omapGetByKeys(this.listOid, [...new Set([mailboxKey(n), ...extra])]);
      const raw = got.get(mailboxKey(n));
      if (raw) info = JSON.parse(raw.toString()) as MailboxInfo;
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw fromStoreError(e, 'open mailbox');
    }
    if (!info && n === 'INBOX') {
      await this.ensureDefaults();
      return this.lookup(n, extra);
    }
    if (!info) {
      this.store.boxHints.delete(this.hintKey(n));
      throw new NotFound(`mailbox ${n} does not exist`);
    }
    this.store.boxHints.set(this.hintKey(n), info);
    return { mailbox: new Mailbox(this.io, info, this.mails, this.store.lanes), got };
  }

  /** The immutable metadata of a message (MIME structure, envelope, sizes; cached; 1 round trip on a miss). */
  messageMeta(e: IndexEntry): Promise<StoredMeta> {
    return this.mails.meta(e.mail);
  }

  /**
   * Bytes [offset, offset+length) of a message (the whole message by default), in as few reads as
   * its striping allows. Throws Expunged when its object is gone, Unavailable on store errors.
   */
  messageBytes(e: IndexEntry, offset = 0, length?: number): Promise<Buffer> {
    return this.mails.read(e.mail, offset, length);
  }

  /** The message's stable id across mailboxes (RFC 8474 EMAILID): COPY and MOVE keep it. */
  emailId(e: IndexEntry): string {
    return emailIdOf(e.mail);
  }

  /**
   * METADATA entries (RFC 5464) of a mailbox (its id) or of the server (''), with children to
   * `depth`: entry name (lower case) -> value.
   */
  getMetadata(scope: string, entries: string[], depth: MetadataDepth): Promise<Map<string, Buffer>> {
    return getMetadata(this.io, scope, entries, depth);
  }

  /** Set (value) or remove (null) METADATA entries atomically. Throws MetadataLimit. */
  setMetadata(scope: string, values: Map<string, Buffer | null>): Promise<void> {
    return setMetadata(this.io, scope, values, this.store.opts.metadata);
  }

  /** A Mailbox for an entry of mailboxes() without looking it up again (no I/O). */
  mailboxOf(info: MailboxInfo): Mailbox {
    return new Mailbox(this.io, info, this.mails, this.store.lanes);
  }

  private hintKey(name: string): string {
    return `${this.id}\0${name}`;
  }

  /**
   * Save messages into mailbox `name` (APPEND, LMTP delivery); resolves once the mail objects
   * and their index entries are durable. With a mailbox id seen before by this process, the
   * mailbox list lookup, the mail object writes and the index read run in ONE round trip, then
   * the guarded index commit: 2 serial round trips (docs/cost-model.md). If the lookup shows the
   * mailbox was renamed or deleted meanwhile, nothing is committed, the written objects are
   * removed and the save starts again from the lookup. Throws NotFound (no such mailbox).
   */
  async appendTo(name: string, messages: NewMessage[]): Promise<{ mailbox: Mailbox; saved: SavedMessage[] }> {
    const n = this.norm(name);
    const bytes = messages.reduce((t, m) => t + (m.staged?.size ?? m.stream?.size ?? m.data?.length ?? 0), 0);
    // the quota is checked before anything is committed: with limits known, first; otherwise the
    // user's own limits come with the mailbox lookup's omap read and are checked when it returns
    const known = this.limits;
    if (known) await this.checkQuota(known, bytes, messages.length);
    const keys = known ? [mailboxKey(n)] : [mailboxKey(n), QUOTA_KEY];
    const quota = async (got: Map<string, Buffer>) => {
      if (!known) await this.checkQuota(this.knowLimits(UserStore.ownIn(got)), bytes, messages.length);
    };
    // a stream can be read once, and staged objects must not be removed by a stale guess: no
    // optimistic save that might have to start over
    const hint = messages.some((m) => m.stream || m.staged) ? undefined : this.store.boxHints.get(this.hintKey(n));
    if (hint) {
      const guess = new Mailbox(this.io, hint, this.mails, this.store.lanes);
      // QuotaExceeded from here aborts the save: nothing is committed, the objects are removed
      const confirm = this.io.omapGetByKeys(this.listOid, keys).then(
        async (got) => {
          await quota(got);
          const raw = got.get(mailboxKey(n));
          return !!raw && (JSON.parse(raw.toString()) as MailboxInfo).id === hint.id;
        },
        (e) => {
          if (isErrno(e, 'ENOENT')) return false;
          throw fromStoreError(e, 'open mailbox');
        },
      );
      const stale = await guess.appendIfCurrent(messages, confirm);
      if (!stale.stale) return { mailbox: guess, saved: stale.saved };
      this.store.boxHints.delete(this.hintKey(n));
    }
    const { mailbox: mb, got } = await this.lookup(n, keys);
    await quota(got);
    return { mailbox: mb, saved: await mb.append(messages) };
  }

  /**
   * Write a message that arrives as a stream of `size` bytes into a new mail object of mailbox
   * `mailbox` (its id, for the object's origin xattr) without committing it: a MULTIAPPEND of
   * several large messages stages each as it arrives, then commits all in one appendTo (RFC 3502:
   * all or none). Resolves once the object is durable. Throws the store's typed errors; the
   * partly written object is removed then.
   */
  async stage(
    mailbox: string,
    source: AsyncIterable<Buffer>,
    size: number,
    flags: string[],
    internalDate: number,
    /** The object name to write (newMailOid), when the caller journals it first; default a fresh one. */
    oid = this.mails.newOid(),
  ): Promise<StagedMessage> {
    const meta = await this.mails.writeStream(oid, source, size, {
      mailbox,
      flags,
      internalDate,
      saveDate: Date.now(),
    });
    return { oid, size: meta.size };
  }

  /** A fresh mail object name, for a caller that records it before writing (migration's journal). */
  newMailOid(): string {
    return this.mails.newOid();
  }

  /** Remove staged messages that will not be committed (the APPEND failed before its commit). */
  async discardStaged(staged: StagedMessage[]): Promise<void> {
    await Promise.all(staged.map((s) => this.mails.discard(s.oid, s.size)));
  }

  /**
   * What the user uses (RFC 9208 §5: STORAGE in bytes, MESSAGE count) over all mailboxes: the
   * mailbox list, then one parallel read of every mailbox's counters (2 serial round trips).
   */
  async usage(): Promise<{ storageBytes: number; messages: number }> {
    const boxes = await this.mailboxes();
    // a mailbox deleted meanwhile (its index gone) uses nothing; any other failure fails the
    // whole answer (Unavailable): a quota check must not pass because a read failed
    const counters = await Promise.all(
      boxes.map((b) =>
        this.mailboxOf(b)
          .counters()
          .catch((e: unknown) => {
            if (e instanceof Unavailable && isErrno(e.cause, 'ENOENT')) return null;
            throw e;
          }),
      ),
    );
    return counters.reduce(
      (u, c) => (c ? { storageBytes: u.storageBytes + c.bytes, messages: u.messages + c.messages } : u),
      { storageBytes: 0, messages: 0 },
    );
  }

  /** The limits once known (read, or taken from a mailbox list read that carried them). */
  private limits?: QuotaLimits;

  /**
   * The quota limits in force for this user: the store's defaults (MailStoreOptions.quota) with
   * this user's own limits (setQuotaLimits) in their place where set. Read once per UserStore
   * (like Dovecot reading quota rules at login): by a save, in the same omap read as its mailbox
   * lookup (no round trip of its own), otherwise by one omap read of the user's mailbox list.
   */
  async quotaLimits(): Promise<QuotaLimits> {
    return this.limits ?? this.knowLimits(await this.ownLimits());
  }

  /** Record the user's own limits as read; returns the limits in force. */
  private knowLimits(own: Partial<QuotaLimits>): QuotaLimits {
    return (this.limits = { ...this.store.opts.quota, ...own });
  }

  /** The own limits in an omap read of the mailbox list that asked for QUOTA_KEY. */
  private static ownIn(got: Map<string, Buffer>): Partial<QuotaLimits> {
    const raw = got.get(QUOTA_KEY);
    return raw ? (JSON.parse(raw.toString()) as Partial<QuotaLimits>) : {};
  }

  /** This user's own limits as stored (empty when none). Throws Unavailable on store errors. */
  private async ownLimits(): Promise<Partial<QuotaLimits>> {
    try {
      return UserStore.ownIn(await this.io.omapGetByKeys(this.listOid, [QUOTA_KEY]));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return {};
      throw fromStoreError(e, 'read quota');
    }
  }

  /**
   * Set this user's own quota limits (bytes, messages; 0 = unlimited) for the resources given,
   * keeping the user's other own limits; they replace the store's defaults. null removes them all
   * (the defaults apply again). Sessions that already read the limits keep theirs until they end.
   * Throws RangeError for a negative or non-integer limit, Unavailable on store errors.
   */
  async setQuotaLimits(limits: Partial<QuotaLimits> | null): Promise<void> {
    if (limits) {
      for (const [k, v] of Object.entries(limits)) {
        if (!['storageBytes', 'messages'].includes(k) || !Number.isSafeInteger(v) || v < 0)
          throw new RangeError(`bad quota limit ${k}=${v}`);
      }
    }
    const merged = limits ? { ...(await this.ownLimits()), ...limits } : null;
    await this.changeList('set quota', (_l, op) => {
      if (merged) op.omapSet({ [QUOTA_KEY]: Buffer.from(JSON.stringify(merged)) });
      else op.omapRm([QUOTA_KEY]);
    });
    this.limits = undefined;
  }

  /**
   * Refuse a save of `bytes` in `count` messages that would go over the quota (costs a usage()
   * read only when a limit is set). Throws QuotaExceeded. Concurrent saves may overshoot by what
   * they carry: the check is not part of the index commit.
   */
  private async checkQuota(q: QuotaLimits, bytes: number, count: number): Promise<void> {
    if (!q.storageBytes && !q.messages) return;
    const u = await this.usage();
    if (q.storageBytes && u.storageBytes + bytes > q.storageBytes)
      throw new QuotaExceeded(`Quota exceeded (storage: ${u.storageBytes} of ${q.storageBytes} bytes used)`);
    if (q.messages && u.messages + count > q.messages)
      throw new QuotaExceeded(`Quota exceeded (messages: ${u.messages} of ${q.messages})`);
  }

  /**
   * Create a mailbox (and missing parents). The index object is created first, then the list
   * entry: a crash in between leaves an unlisted empty index, never a listed mailbox without one.
   * Throws AlreadyExists, InvalidName.
   */
  async createMailbox(
    name: string,
    specialUse: string | null = null,
    subscribe = false,
    /** A given UIDVALIDITY for the mailbox itself (migration keeps the source's); parents get fresh ones. */
    uidvalidity?: number,
  ): Promise<MailboxInfo> {
    const n = this.norm(name);
    if (uidvalidity !== undefined && !(Number.isSafeInteger(uidvalidity) && uidvalidity > 0 && uidvalidity < 2 ** 32)) {
      throw new RangeError(`bad UIDVALIDITY ${uidvalidity}`);
    }
    const parts = n.split(SEPARATOR);
    const names = parts.map((_, i) => parts.slice(0, i + 1).join(SEPARATOR));
    const created = new Map<string, MailboxInfo>();
    const keys = [...names.map(mailboxKey), UIDVALIDITY_KEY, COUNT_KEY];
    return this.changeListKeys('create mailbox', keys, async (got, op) => {
      if (got.has(mailboxKey(n))) throw new AlreadyExists(`mailbox ${n} already exists`);
      const missing = names.filter((nm) => !got.has(mailboxKey(nm)));
      const count = await this.mailboxCount(got);
      // the defaults come first: a list without INBOX is made whole before anything is added
      if (count === 0) throw new NeedDefaults();
      const max = this.store.opts.maxMailboxes;
      if (count + missing.length > max) throw new LimitExceeded(`Too many mailboxes (at most ${max})`);
      let uv = Math.max(Math.floor(Date.now() / 1000), Number(got.get(UIDVALIDITY_KEY)?.toString() ?? 0) + 1);
      let mine: MailboxInfo | undefined;
      for (const nm of names) {
        if (got.has(mailboxKey(nm))) continue;
        let info = created.get(nm);
        if (!info) {
          info = { name: nm, id: randomUUID(), uidvalidity: 0, specialUse: nm === n ? specialUse : null };
          created.set(nm, info);
        }
        info.uidvalidity = nm === n && uidvalidity !== undefined ? uidvalidity : uv++;
        await createIndex(this.io, info, this.store.opts.indexShardEntries);
        op.omapSet({ [mailboxKey(nm)]: JSON.stringify(info) });
        if (subscribe) op.omapSet({ [subscriptionKey(nm)]: '' });
        if (nm === n) mine = info;
      }
      // the counter stays above every UIDVALIDITY given out here, a given one included
      op.omapSet({
        [UIDVALIDITY_KEY]: String(Math.max(uv - 1, uidvalidity ?? 0)),
        [COUNT_KEY]: String(count + missing.length),
      });
      return mine!;
    }).catch(async (e: unknown) => {
      if (!(e instanceof NeedDefaults)) throw e;
      await this.ensureDefaults();
      return this.createMailbox(name, specialUse, subscribe, uidvalidity);
    });
  }

  /**
   * Give an existing, never-used mailbox (no message ever saved: UIDNEXT 1) a given UIDVALIDITY,
   * as a migration does for INBOX and the default mailboxes, which exist before the first sync.
   * The index counters and the list entry change; the mailbox id stays. Throws NotFound,
   * NotAllowed when the mailbox has held mail (its UIDs would lose their meaning), RangeError for
   * a bad value.
   */
  async setUidvalidity(name: string, uidvalidity: number): Promise<void> {
    if (!(Number.isSafeInteger(uidvalidity) && uidvalidity > 0 && uidvalidity < 2 ** 32)) {
      throw new RangeError(`bad UIDVALIDITY ${uidvalidity}`);
    }
    const mb = await this.mailbox(name);
    await mb.resetUidvalidity(uidvalidity);
    await this.changeList('set UIDVALIDITY', (l, op) => {
      const info = l.boxes.get(mb.name);
      if (!info || info.id !== mb.id) throw new NotFound(`mailbox ${mb.name} does not exist`);
      op.omapSet({ [mailboxKey(mb.name)]: JSON.stringify({ ...info, uidvalidity }) });
      op.omapSet({ [UIDVALIDITY_KEY]: String(Math.max(l.lastUidvalidity, uidvalidity)) });
    });
    this.store.boxHints.delete(this.hintKey(mb.name));
  }

  /**
   * Delete a mailbox: the list entry goes first, then the index and the mail references.
   * Throws NotFound, NotAllowed (INBOX, or a mailbox with children).
   */
  async deleteMailbox(name: string): Promise<void> {
    const n = this.norm(name);
    if (n === 'INBOX') throw new NotAllowed('INBOX cannot be deleted');
    const info = await this.changeListKeys('delete mailbox', [mailboxKey(n), COUNT_KEY], async (got, op) => {
      const raw = got.get(mailboxKey(n));
      if (!raw) throw new NotFound(`mailbox ${n} does not exist`);
      // a child is found by one listing of the name's prefix, not by reading the whole list; one
      // made after the version was read changes it, so this op is then refused and retried
      const kids = await this.io.omapList(this.listOid, { prefix: mailboxKey(n + SEPARATOR), max: 1 });
      if (kids.entries.size) throw new NotAllowed(`mailbox ${n} has children, delete them first`);
      op.omapRm([mailboxKey(n), reserveKey((JSON.parse(raw.toString()) as MailboxInfo).id)]);
      const count = await this.mailboxCount(got);
      op.omapSet({ [COUNT_KEY]: String(Math.max(0, count - 1)) });
      return JSON.parse(raw.toString()) as MailboxInfo;
    });
    const mb = new Mailbox(this.io, info, this.mails, this.store.lanes);
    try {
      const [entries, kept, shards] = await Promise.all([mb.entries(), mb.keptExpunged(), mb.shardObjects()]);
      await Promise.all([...entries.map((e) => e.mail), ...kept].map((oid) => this.mails.release(oid)));
      await this.io.remove(indexOid(info.id));
      await Promise.all(shards.map((oid) => this.io.remove(oid).catch(() => undefined)));
      await dropMetadata(this.io, info.id);
    } catch (e) {
      this.store.opts.log?.warn({ err: e, mailbox: n }, 'cleanup after DELETE incomplete; gc will reclaim');
    }
  }

  /**
   * Rename a mailbox and its children in one op, keeping ids and UIDVALIDITY. Renaming INBOX
   * moves its messages to the new name and leaves an empty INBOX (RFC 3501 §6.3.5).
   * Throws NotFound, AlreadyExists.
   */
  async renameMailbox(from: string, to: string): Promise<void> {
    const f = this.norm(from),
      t = this.norm(to);
    if (t === 'INBOX') throw new AlreadyExists('INBOX already exists');
    const freshInbox =
      f === 'INBOX'
        ? ({ name: 'INBOX', id: randomUUID(), uidvalidity: 0, specialUse: null } as MailboxInfo)
        : undefined;
    await this.changeList('rename mailbox', async (l, op) => {
      const info = l.boxes.get(f);
      if (!info) throw new NotFound(`mailbox ${f} does not exist`);
      if (l.boxes.has(t)) throw new AlreadyExists(`mailbox ${t} already exists`);
      if (t.startsWith(f + SEPARATOR)) throw new InvalidName('cannot rename a mailbox into itself');
      const moves: [string, MailboxInfo][] = [];
      for (const [k, v] of l.boxes) {
        if (k === f || (f !== 'INBOX' && k.startsWith(f + SEPARATOR))) moves.push([k, v]);
      }
      const tParts = t.split(SEPARATOR);
      let uv = Math.max(Math.floor(Date.now() / 1000), l.lastUidvalidity + 1);
      for (let i = 1; i < tParts.length; i++) {
        const parent = tParts.slice(0, i).join(SEPARATOR);
        if (!l.boxes.has(parent) && !moves.some(([k]) => k === parent)) {
          const pi: MailboxInfo = { name: parent, id: randomUUID(), uidvalidity: uv++, specialUse: null };
          await createIndex(this.io, pi, this.store.opts.indexShardEntries);
          op.omapSet({ [mailboxKey(parent)]: JSON.stringify(pi) });
        }
      }
      const parentsMade = tParts.slice(1).filter((_, i) => {
        const parent = tParts.slice(0, i + 1).join(SEPARATOR);
        return !l.boxes.has(parent) && !moves.some(([k]) => k === parent);
      }).length;
      op.omapSet({ [COUNT_KEY]: String(l.boxes.size + parentsMade + (freshInbox ? 1 : 0)) });
      for (const [k, v] of moves) {
        const nk = t + k.slice(f.length);
        op.omapRm([mailboxKey(k)]);
        op.omapSet({ [mailboxKey(nk)]: JSON.stringify({ ...v, name: nk }) });
      }
      if (freshInbox) {
        freshInbox.uidvalidity = uv++;
        await createIndex(this.io, freshInbox, this.store.opts.indexShardEntries);
        op.omapSet({ [mailboxKey('INBOX')]: JSON.stringify(freshInbox) });
      }
      op.omapSet({ [UIDVALIDITY_KEY]: String(uv - 1) });
    });
  }

  /**
   * Set or clear the RFC 6154 special-use attribute of an existing mailbox (migration carries
   * the source's; CREATE-SPECIAL-USE sets it at creation). Throws NotFound, InvalidName.
   */
  async setSpecialUse(name: string, specialUse: string | null): Promise<void> {
    const n = this.norm(name);
    await this.changeList('set special-use', (l, op) => {
      const info = l.boxes.get(n);
      if (!info) throw new NotFound(`mailbox ${n} does not exist`);
      if (info.specialUse !== specialUse) op.omapSet({ [mailboxKey(n)]: JSON.stringify({ ...info, specialUse }) });
    });
    this.store.boxHints.delete(this.hintKey(n));
  }

  /** Add or remove a subscription (RFC 3501 §6.3.6). */
  async setSubscribed(name: string, on: boolean): Promise<void> {
    const n = this.norm(name);
    await this.changeList('subscribe', (_l, op) => {
      if (on) op.omapSet({ [subscriptionKey(n)]: '' });
      else op.omapRm([subscriptionKey(n)]);
    });
  }
}
