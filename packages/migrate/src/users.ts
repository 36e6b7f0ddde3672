/**
 * The users file of a migration (`rmb migrate users import FILE`): CSV with a header row, or
 * JSONL (one JSON object per line). Every row names the source user, the rmb user, how to log in
 * at the source and where the secret is (an environment variable or a file: a password never
 * appears in the file, on a command line or in the migration state). All rows are checked in one
 * pass; any bad row rejects the whole file.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseSourceUri } from './source-uri.js';
import { MigrateConfigError } from './errors.js';

/** One user to migrate, as stored in the migration state. */
export interface UserRow {
  /** Login name at the source (or the %u of a maildir path). */
  sourceUser: string;
  /** The rmb user the mail goes to. */
  rmbUser: string;
  /** "password": the user's own; "master": a master user logs in for them; "none": a maildir source. */
  auth: 'password' | 'master' | 'none';
  /** Where the password is: "env:NAME" or "file:/path" (the file's first line). Absent for "none". */
  secret?: string;
  /** The master user's login name (auth "master"). */
  masterUser?: string;
  /** A wave label, for `sync --wave`. */
  wave?: string;
  /** This user's source URI, in place of the migration's default. */
  source?: string;
}

/** A bad row: its line number (1-based, the header is line 1 of a CSV) and why. */
export interface RowError {
  line: number;
  message: string;
}

const secretRef = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/, 'secret must be env:NAME or file:/absolute/path');

const rowSchema = z
  .object({
    source_user: z.string({ required_error: 'missing' }).min(1, 'missing').max(255),
    rmb_user: z
      .string({ required_error: 'missing' })
      .min(1, 'missing')
      .max(255)
      .regex(/^[^\s/\\]+$/, 'rmb_user holds a space or a slash'),
    auth: z.enum(['password', 'master', 'none']).default('password'),
    secret: secretRef.optional(),
    master_user: z.string().min(1).optional(),
    wave: z.string().min(1).max(64).optional(),
    source: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.auth !== 'none' && !r.secret) ctx.addIssue({ code: 'custom', message: `auth ${r.auth} needs a secret` });
    if (r.auth === 'master' && !r.master_user)
      ctx.addIssue({ code: 'custom', message: 'auth master needs master_user' });
    if (r.source) {
      try {
        parseSourceUri(r.source);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }
  });

/** Empty cells are absent values. */
const clean = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v !== null && v !== undefined));

/**
 * Parse and check a users file's text. `format` is taken from the content when absent (a first
 * non-blank character "{" means JSONL). Returns every row, or throws MigrateConfigError listing
 * every bad row (line and reason) when any row is bad, a rmb user appears twice, or the file holds
 * no row.
 */
export function parseUsers(text: string, format?: 'csv' | 'jsonl'): UserRow[] {
  const fmt = format ?? (text.trimStart().startsWith('{') ? 'jsonl' : 'csv');
  const raw: { line: number; value: unknown }[] = [];
  const errors: RowError[] = [];
  if (fmt === 'jsonl') {
    text.split('\n').forEach((l, i) => {
      if (!l.trim()) return;
      try {
        raw.push({ line: i + 1, value: JSON.parse(l) });
      } catch (e) {
        errors.push({ line: i + 1, message: `not JSON: ${(e as Error).message}` });
      }
    });
  } else {
    try {
      const records = parseCsv(text, {
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        skip_empty_lines: true,
        trim: true,
        relax_column_count: true,
        info: true,
      }) as { record: Record<string, string>; info: { lines: number } }[];
      for (const r of records) raw.push({ line: r.info.lines, value: r.record });
    } catch (e) {
      throw new MigrateConfigError(`users file: ${(e as Error).message}`);
    }
  }
  const rows: UserRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, value } of raw) {
    const r = rowSchema.safeParse(value && typeof value === 'object' ? clean(value as Record<string, unknown>) : value);
    if (!r.success) {
      errors.push({
        line,
        message: r.error.issues.map((i) => (i.path.length ? `${i.path}: ` : '') + i.message).join('; '),
      });
      continue;
    }
    const d = r.data;
    const prev = seen.get(d.rmb_user);
    if (prev !== undefined) {
      errors.push({ line, message: `rmb_user ${d.rmb_user} already on line ${prev}` });
      continue;
    }
    seen.set(d.rmb_user, line);
    rows.push({
      sourceUser: d.source_user,
      rmbUser: d.rmb_user,
      auth: d.auth,
      ...(d.secret ? { secret: d.secret } : {}),
      ...(d.master_user ? { masterUser: d.master_user } : {}),
      ...(d.wave ? { wave: d.wave } : {}),
      ...(d.source ? { source: d.source } : {}),
    });
  }
  if (!errors.length && !rows.length) errors.push({ line: 1, message: 'no user rows' });
  if (errors.length) throw new MigrateConfigError(`users file has ${errors.length} bad row(s)`, errors);
  return rows;
}

/** Read and check a users file (see parseUsers); the format from the extension (.jsonl/.ndjson) or the content. */
export function readUsersFile(path: string): UserRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MigrateConfigError(`users file ${path}: ${(e as Error).message}`);
  }
  return parseUsers(text, /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : /\.csv$/i.test(path) ? 'csv' : undefined);
}

/**
 * The password a secret reference points at: the environment variable's value, or the file's
 * first line. Throws MigrateConfigError when it is not there (nothing else says where it was).
 */
export function resolveSecret(ref: string): string {
  if (ref.startsWith('env:')) {
    const v = process.env[ref.slice(4)];
    if (v === undefined) throw new MigrateConfigError(`secret ${ref}: the variable is not set`);
    return v;
  }
  try {
    return readFileSync(ref.slice(5), 'utf8').split(/\r?\n/)[0];
  } catch (e) {
    throw new MigrateConfigError(`secret ${ref}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}
