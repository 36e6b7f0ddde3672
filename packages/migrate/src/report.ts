/**
 * `rmb migrate status` and `rmb migrate report`: the state of every user (status, deltas,
 * attempts, last error, last run's counters, last verification) as a summary, Markdown, JSON or
 * CSV. Built from the migration state alone (no source is contacted).
 */
import type { MigrationState, UserState } from './state.js';
import type { UserRow } from './users.js';

/** One user's line of a report. */
export interface ReportRow {
  user: string;
  sourceUser: string;
  wave?: string;
  state: UserState;
}

/** Every user with its state. */
export async function collect(state: MigrationState): Promise<ReportRow[]> {
  const rows: UserRow[] = await state.users();
  return Promise.all(
    rows.map(async (r) => ({
      user: r.rmbUser,
      sourceUser: r.sourceUser,
      wave: r.wave,
      state: await state.state(r.rmbUser),
    })),
  );
}

/** Users by status. */
export function countByStatus(rows: ReportRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.state.status] = (out[r.state.status] ?? 0) + 1;
  return out;
}

/** Nearest-rank percentile `p` (0-100) of ascending `sorted`; null when empty. */
export function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The summary `status` prints: users per status and per wave, frozen times, the cut-over ETA. */
export interface Summary {
  /** Users in the migration. */
  total: number;
  byStatus: Record<string, number>;
  /** Per wave ("" for users without one): users per status. */
  byWave: Record<string, Record<string, number>>;
  /** Frozen time of the users cut over, ms: count, p50, p99, max, sum. */
  frozen: { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null; totalMs: number };
  /**
   * Cut-overs still to do (users neither cut over nor rolled back) and, from the pace of those
   * done so far (their completion times), when they would be done: seconds from now, or null.
   */
  remaining: number;
  etaSeconds: number | null;
}

/** Summarize report rows (see Summary). */
export function summarize(rows: ReportRow[]): Summary {
  const byWave: Summary['byWave'] = {};
  for (const r of rows) {
    const w = (byWave[r.wave ?? ''] ??= {});
    w[r.state.status] = (w[r.state.status] ?? 0) + 1;
  }
  const cut = rows.filter((r) => r.state.cutover);
  const frozen = cut.map((r) => r.state.cutover!.frozenMs).sort((a, b) => a - b);
  const at = cut.map((r) => r.state.cutover!.at).sort((a, b) => a - b);
  const remaining = rows.filter((r) => !['cut-over', 'rolled-back'].includes(r.state.status)).length;
  // pace: cut-overs per ms between the first and the last completion (the first one's own frozen time counts too)
  const span = at.length ? at[at.length - 1] - at[0] + frozen[0] : 0;
  const etaSeconds =
    remaining === 0 ? 0 : at.length && span > 0 ? Math.round((remaining * span) / at.length / 1000) : null;
  return {
    total: rows.length,
    byStatus: countByStatus(rows),
    byWave,
    frozen: {
      count: frozen.length,
      p50Ms: percentile(frozen, 50),
      p99Ms: percentile(frozen, 99),
      maxMs: frozen.length ? frozen[frozen.length - 1] : null,
      totalMs: frozen.reduce((a, b) => a + b, 0),
    },
    remaining,
    etaSeconds,
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const diffText = (d: Record<string, number> | undefined) =>
  !d
    ? ''
    : Object.keys(d).length
      ? Object.entries(d)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : '0 differences';

/** The report in `format`. */
export function formatReport(rows: ReportRow[], format: 'md' | 'json' | 'csv'): string {
  if (format === 'json') {
    return JSON.stringify({ byStatus: countByStatus(rows), summary: summarize(rows), users: rows }, null, 2) + '\n';
  }
  if (format === 'csv') {
    const head = 'user,source_user,wave,status,deltas,attempts,copied,copied_bytes,verify_level,differences,last_error';
    const q = (v: unknown) => {
      const s = v === undefined || v === null ? '' : String(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const lines = rows.map((r) =>
      [
        r.user,
        r.sourceUser,
        r.wave,
        r.state.status,
        r.state.deltas,
        r.state.attempts,
        r.state.lastRun?.copied,
        r.state.lastRun?.copiedBytes,
        r.state.verify?.level,
        r.state.verify ? Object.values(r.state.verify.differences).reduce((a, b) => a + b, 0) : '',
        r.state.lastError,
      ]
        .map(q)
        .join(','),
    );
    return [head, ...lines].join('\n') + '\n';
  }
  const by = countByStatus(rows);
  const out = [
    '# Migration report',
    '',
    `${rows.length} users: ${Object.entries(by)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
    '',
    '| user | status | deltas | attempts | last run copied | verification | last error |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const s = r.state;
    const v = s.verify
      ? `L${s.verify.level}: rmb ${s.verify.messages.toLocaleString('en')} / ${gib(s.verify.bytes)}; ` +
        diffText(s.verify.differences)
      : '';
    const run = s.lastRun ? `${s.lastRun.copied} (${gib(s.lastRun.copiedBytes)})` : '';
    const err = (s.lastError ?? '').replace(/\|/g, '/');
    out.push(`| ${r.user} | ${s.status} | ${s.deltas} | ${s.attempts} | ${run} | ${v} | ${err} |`);
  }
  const moved = rows.filter((r) => r.state.cutover || r.state.rollback?.at);
  if (moved.length) {
    const f = summarize(rows).frozen;
    out.push('', '## Cut-overs and rollbacks', '');
    if (f.count)
      out.push(`Frozen time over ${f.count} cut-over(s): p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms.`, '');
    for (const r of moved) {
      const c = r.state.cutover;
      const b = r.state.rollback;
      const parts = [
        c
          ? `cut over ${new Date(c.at).toISOString()}, frozen ${c.frozenMs} ms, ` +
            `${c.passes} final pass(es) copying ${c.copied}`
          : '',
        b?.at
          ? `rolled back ${new Date(b.at).toISOString()}: ${b.appended ?? 0} copied back, ` +
            `${b.flagsSet ?? 0} flag change(s), ${b.markedDeleted ?? 0} marked \\Deleted`
          : '',
      ].filter(Boolean);
      out.push(`- ${r.user}: ${parts.join('; ')}`);
    }
  }
  const problems = rows.filter((r) => r.state.problems?.length);
  if (problems.length) {
    out.push('', '## Problems of the last runs', '');
    for (const r of problems) for (const p of r.state.problems!) out.push(`- ${r.user}: ${p}`);
  }
  return out.join('\n') + '\n';
}
