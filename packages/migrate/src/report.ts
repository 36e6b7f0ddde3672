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
  if (format === 'json') return JSON.stringify({ byStatus: countByStatus(rows), users: rows }, null, 2) + '\n';
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
  const problems = rows.filter((r) => r.state.problems?.length);
  if (problems.length) {
    out.push('', '## Problems of the last runs', '');
    for (const r of problems) for (const p of r.state.problems!) out.push(`- ${r.user}: ${p}`);
  }
  return out.join('\n') + '\n';
}
