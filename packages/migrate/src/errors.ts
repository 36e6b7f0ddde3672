/**
 * Typed errors of a migration, each with the sysexits code `rmb migrate` exits with (as doveadm:
 * 0 clean, 2 the source changed during the run, 75 temporary failure, 77 authentication,
 * 78 configuration; and 65, EX_DATAERR, when a verification found differences).
 */

/** Base class: `exitCode` is the process exit code this failure leads to. */
export class MigrateError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'MigrateError';
  }
}

/** A bad users file, source URI, option or secret reference (EX_CONFIG, 78). `rows` names bad rows. */
export class MigrateConfigError extends MigrateError {
  constructor(
    message: string,
    readonly rows: { line: number; message: string }[] = [],
  ) {
    super(message, 78);
    this.name = 'MigrateConfigError';
  }
}

/** The source refused the login (EX_NOPERM, 77): the user is `failed`, the others go on. */
export class SourceAuthError extends MigrateError {
  constructor(message: string) {
    super(message, 77);
    this.name = 'SourceAuthError';
  }
}

/** The source or the store could not be reached or failed a command (EX_TEMPFAIL, 75): retry later. */
export class SourceUnavailable extends MigrateError {
  constructor(message: string) {
    super(message, 75);
    this.name = 'SourceUnavailable';
  }
}

/** A rmb mailbox holds mail the migration did not write: the user is `blocked` until an operator acts (75). */
export class Blocked extends MigrateError {
  constructor(message: string) {
    super(message, 75);
    this.name = 'Blocked';
  }
}

/** The exit code of a run: the most serious wins (config > auth > differences > temporary > source changed). */
export function exitCodeOf(codes: number[]): number {
  for (const c of [78, 77, 65, 75, 2]) if (codes.includes(c)) return c;
  return 0;
}
