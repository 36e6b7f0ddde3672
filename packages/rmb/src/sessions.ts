/**
 * Who is logged in, on every node, and kicking a user off them all (issue 15 item 1: doveadm who
 * and kick). Each `rmb serve` process writes its IMAP sessions every `REGISTRY_MS` to an object of
 * its own in the store's root namespace, `who.<host>.<pid>` (omap `t` -> the write time, `s:<id>`
 * -> the session), and removes it when it stops; `rmb who` reads every such object written in the
 * last three intervals (older ones are of processes that died: removed). `rmb kick USER` notifies
 * the root object `control`, which every serving process watches (watch/notify reaches every node
 * on Ceph, every process on the embedded store's notify bus); each ends that user's sessions.
 */
import { hostname } from 'node:os';
import { WriteOp, type IoCtx } from '@rmb/rados';

/** How often each process writes its sessions, ms. */
export const REGISTRY_MS = 10_000;
/** The root object watched for administrator requests. */
export const CONTROL_OID = 'control';
const WHO_PREFIX = 'who.';

/** One session as `rmb who` shows it. */
export interface SessionRow {
  user: string;
  remote: string;
  state: string;
  /** When it started, ms since epoch. */
  since: number;
  /** `<host>.<pid>` of the process serving it. */
  node: string;
}

/** What a serving process offers: its sessions, and ending a user's. */
export interface SessionSource {
  list(): { id: string; user?: string; remote: string; state: string; since: number }[];
  kick(user: string): number;
}

/**
 * Keep this process's sessions in the store and answer kicks; returns a stop function (which
 * removes the process's object). Failures are logged and tried again at the next interval.
 */
export async function startRegistry(
  root: IoCtx,
  src: SessionSource,
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void },
): Promise<() => Promise<void>> {
  const node = `${hostname()}.${process.pid}`;
  const oid = `${WHO_PREFIX}${node}`;
  let refresh = '';
  const write = async () => {
    const set: Record<string, string> = { t: String(Date.now()), r: refresh };
    for (const s of src.list())
      if (s.user) set[`s:${s.id}`] = JSON.stringify({ user: s.user, remote: s.remote, state: s.state, since: s.since });
    await root.operate(oid, new WriteOp().create(false).omapClear().omapSet(set));
  };
  const tick = () => write().catch((e: unknown) => log.warn({ err: e }, 'session registry not written'));
  await tick();
  const timer = setInterval(() => void tick(), REGISTRY_MS);
  timer.unref();
  await root.operate(CONTROL_OID, new WriteOp().create(false));
  const watch = await root.watch(CONTROL_OID, (ev) => {
    try {
      const req = JSON.parse(ev.payload.toString()) as { kick?: string; refresh?: string };
      if (typeof req.refresh === 'string') {
        refresh = req.refresh;
        void tick();
      }
      if (typeof req.kick === 'string') {
        const n = src.kick(req.kick);
        log.info({ user: req.kick, sessions: n }, 'kick');
        void tick();
      }
    } catch {
      /* not a request of ours */
    }
  });
  return async () => {
    clearInterval(timer);
    await watch.unwatch().catch(() => undefined);
    await root.remove(oid).catch(() => undefined);
  };
}

/**
 * Every session of every serving process: the processes are first asked to write their sessions
 * now (a notify of `control`), and their objects read once each has (at most 2 s). Objects of
 * processes that wrote nothing in three intervals are removed (they died).
 */
export async function who(root: IoCtx): Promise<SessionRow[]> {
  const nonce = `${process.pid}.${Date.now()}`;
  await root.operate(CONTROL_OID, new WriteOp().create(false));
  await root.notify(CONTROL_OID, JSON.stringify({ refresh: nonce }), 2000).catch(() => undefined);
  for (let i = 0; i < 20; i++) {
    const { rows, stale } = await readRegistry(root, nonce);
    if (!stale || i === 19) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
}

/** The sessions in the registry, and whether a live process has not written since `nonce`. */
async function readRegistry(root: IoCtx, nonce: string): Promise<{ rows: SessionRow[]; stale: boolean }> {
  const rows: SessionRow[] = [];
  let stale = false;
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = await root.list(cursor, 1000);
    for (const o of page.objects) {
      if (!o.oid.startsWith(WHO_PREFIX)) continue;
      const got = await root.omapList(o.oid, { max: 100_000 }).catch(() => undefined);
      if (!got) continue;
      const t = Number(got.entries.get('t')?.toString());
      if (!(Date.now() - t < 3 * REGISTRY_MS)) {
        await root.remove(o.oid).catch(() => undefined);
        continue;
      }
      if (got.entries.get('r')?.toString() !== nonce) stale = true;
      for (const [k, v] of got.entries)
        if (k.startsWith('s:'))
          rows.push({
            ...(JSON.parse(v.toString()) as Omit<SessionRow, 'node'>),
            node: o.oid.slice(WHO_PREFIX.length),
          });
    }
    cursor = page.cursor;
  }
  rows.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : a.since - b.since));
  return { rows, stale };
}

/**
 * Ask every serving process to end `user`'s sessions, then watch the registry until they are gone
 * (at most `waitMs`): returns the sessions there were and those still left.
 */
export async function kick(root: IoCtx, user: string, waitMs = 5000): Promise<{ before: number; left: number }> {
  const mine = (rows: SessionRow[]) => rows.filter((r) => r.user.toLowerCase() === user.toLowerCase()).length;
  const before = mine(await who(root));
  await root.notify(CONTROL_OID, JSON.stringify({ kick: user }), 2000).catch(() => undefined);
  let left = before;
  for (const end = Date.now() + waitMs; left && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 100));
    left = mine(await who(root));
  }
  return { before, left };
}
