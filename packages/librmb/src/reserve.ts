/**
 * What a lost index must not go below (ADR 0021): HIGHESTMODSEQ and UIDNEXT only ever grow
 * (RFC 7162 §3.1.1, RFC 3501 §2.3.1.1), and a client may have seen values that no surviving mail
 * object records (a change to mail expunged since). So each process writes, beside the index, in
 * the user's mailbox list (`w:<mailbox id>`), a reserve ahead of both: whenever a commit takes
 * either past a multiple of STEP, the reserve becomes two steps above it. `rmb index rebuild`
 * starts at least there. One small write per STEP changes or messages per mailbox; written in the
 * background, after the commit.
 */
import { LRUCache } from 'lru-cache';
import type { IoCtx } from '@rmb/rados';
import { MAILBOXES_OID, reserveKey } from './layout.js';
import type { Counters } from './types.js';
import type { InFlight } from './background.js';

/** Modseqs and UIDs between reserve writes. */
export const RESERVE_STEP = 1000;

/** A reserve as stored: values the mailbox's counters stay below until the next write. */
export interface Reserve {
  modseq: number;
  uidnext: number;
}

/** The reserve writer of one MailStore (one process). */
export class Reserves {
  private readonly last = new LRUCache<string, string>({ max: 100_000 });

  constructor(
    private readonly log?: { warn(o: object, msg: string): void },
    private readonly inFlight?: InFlight,
  ) {}

  /** After a commit of index `oid` (in `io`) that left counters `c`: write the reserve when a step was passed. */
  consider(io: IoCtx, oid: string, c: Counters): void {
    const m = Math.floor(c.highestModseq / RESERVE_STEP);
    const u = Math.floor(c.uidnext / RESERVE_STEP);
    const key = `${io.namespace}\u0000${oid}`;
    if (this.last.get(key) === `${m}:${u}`) return;
    this.last.set(key, `${m}:${u}`);
    const r: Reserve = { modseq: (m + 2) * RESERVE_STEP, uidnext: (u + 2) * RESERVE_STEP };
    const write = io.omapSet(MAILBOXES_OID, { [reserveKey(oid.slice(2))]: JSON.stringify(r) }).catch((e: unknown) => {
      this.last.delete(key);
      this.log?.warn({ err: e, index: oid }, 'modseq reserve not written; written after a later change');
    });
    this.inFlight?.track(write);
  }
}

/** The reserve of mailbox `id` from the user's mailbox list, if any. */
export async function readReserve(io: IoCtx, id: string): Promise<Reserve | undefined> {
  const raw = (await io.omapGetByKeys(MAILBOXES_OID, [reserveKey(id)])).get(reserveKey(id));
  return raw ? (JSON.parse(raw.toString()) as Reserve) : undefined;
}
