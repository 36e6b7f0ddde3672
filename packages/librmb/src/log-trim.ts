/**
 * Trimming of each mailbox's change log (issue 15 item 4). Every index change writes one record
 * `l:<modseq>`; without trimming the index object grows by one key per change for ever. Once a
 * mailbox's log spans more than `keep` modseqs (and a slack of a tenth more), the process that
 * committed removes the records at or below HIGHESTMODSEQ - keep, in pages, each page in one
 * commit through the mailbox's lane that raises `h.logFloor`. Readers asking for changes below the
 * floor get `complete: false` from Mailbox.changesSince and work from the entries instead: a
 * QRESYNC or CHANGEDSINCE client gets VANISHED (EARLIER) of every UID it may know that is gone
 * (RFC 7162 §3.2.5.2), a session's view is compared with the index whole.
 */
import { ReadOp, type IoCtx, type OmapPage } from '@rmb/rados';
import { LOG_PREFIX, logKey } from './layout.js';
import type { CommitLanes } from './commit-lane.js';
import type { Counters } from './types.js';
import { BackgroundJobs } from './background.js';

/** Default `store.changeLogRecords`: the modseqs of changes a mailbox's log keeps. */
export const DEFAULT_LOG_RECORDS = 10_000;
/** Records removed per commit. */
const PAGE = 1000;

/** The log trimming of one MailStore (one process); `keep` 0 = never trim. */
export class LogTrimmer {
  private readonly jobs: BackgroundJobs;
  /** Records removed (tests, the bench). */
  readonly stats = { removed: 0 };

  constructor(
    private readonly lanes: CommitLanes,
    readonly keep: number,
    log?: { warn(o: object, msg: string): void },
  ) {
    this.jobs = new BackgroundJobs('change-log trim', log);
  }

  /** Start trimming `oid` if its counters `c` call for it and no trim of it runs here. */
  consider(io: IoCtx, oid: string, c: Counters): void {
    if (!this.keep) return;
    const floor = c.highestModseq - this.keep;
    if (floor - (c.logFloor ?? 0) <= Math.max(100, this.keep / 10)) return;
    this.jobs.start(io, oid, () => this.trim(io, oid, floor));
  }

  /** Wait for the trims started so far (tests, shutdown). */
  settle(): Promise<void> {
    return this.jobs.settle();
  }

  /** Remove the records of `oid` at or below `floor`, a page per commit, raising h.logFloor. */
  async trim(io: IoCtx, oid: string, floor: number): Promise<void> {
    for (;;) {
      const res = await io.operateRead(oid, new ReadOp().omapList({ prefix: LOG_PREFIX, max: PAGE }));
      const keys = [...(res[0] as OmapPage).entries.keys()].filter((k) => k <= logKey(floor));
      const top = keys.length === PAGE ? Number(keys[keys.length - 1].slice(2)) : floor;
      const removed = await this.lanes.submit(io, oid, keys, (c, got) => {
        const gone = keys.filter((k) => got.has(k));
        const logFloor = Math.max(c.logFloor ?? 0, top);
        if (!gone.length && logFloor === (c.logFloor ?? 0))
          return { counters: c, set: {}, rm: [], result: 0, unchanged: true };
        return { counters: { ...c, logFloor }, set: {}, rm: gone, result: gone.length };
      });
      this.stats.removed += removed;
      if (keys.length < PAGE) return;
    }
  }
}
