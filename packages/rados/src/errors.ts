/**
 * Typed errors of the RADOS contract. Every error carries the POSIX errno name and the negative
 * errno number librados would return, so callers can map them to protocol responses without
 * knowing which backend produced them.
 */

/** errno numbers as librados returns them (negated), Linux values. */
export const ERRNO = {
  ENOENT: 2,
  EIO: 5,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENODATA: 61,
  ETIMEDOUT: 110,
  ECANCELED: 125,
  EMSGSIZE: 90,
  ENOTCONN: 107,
} as const;

export type ErrnoName = keyof typeof ERRNO;

/** Base class: a failed RADOS operation. `errno` is the positive errno number. */
export class RadosError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;
  constructor(code: ErrnoName, message: string) {
    super(`${code}: ${message}`);
    this.name = 'RadosError';
    this.code = code;
    this.errno = ERRNO[code];
  }
}

/** The object (or xattr / omap key asked for by a guard) does not exist (ENOENT). */
export class ObjectNotFound extends RadosError {
  constructor(what: string) {
    super('ENOENT', what);
    this.name = 'ObjectNotFound';
  }
}
/** An exclusive create found the object already there (EEXIST). */
export class ObjectExists extends RadosError {
  constructor(what: string) {
    super('EEXIST', what);
    this.name = 'ObjectExists';
  }
}
/** A guard of a compound operation failed: nothing was changed (ECANCELED). */
export class OpCanceled extends RadosError {
  constructor(what: string) {
    super('ECANCELED', what);
    this.name = 'OpCanceled';
  }
}
/** An xattr that was read does not exist (ENODATA). */
export class NoData extends RadosError {
  constructor(what: string) {
    super('ENODATA', what);
    this.name = 'NoData';
  }
}
/** assertVersion mismatch: object is newer (ERANGE) — librados returns -ERANGE or -EOVERFLOW. */
export class VersionMismatch extends RadosError {
  constructor(what: string) {
    super('ERANGE', what);
    this.name = 'VersionMismatch';
  }
}
/** The operation did not complete within the configured op timeout (ETIMEDOUT). */
export class TimedOut extends RadosError {
  constructor(what: string) {
    super('ETIMEDOUT', what);
    this.name = 'TimedOut';
  }
}
/** The cluster (or local disk) is full (ENOSPC). */
export class NoSpace extends RadosError {
  constructor(what: string) {
    super('ENOSPC', what);
    this.name = 'NoSpace';
  }
}
/** Input error (EINVAL), e.g. an empty object name. */
export class InvalidArgument extends RadosError {
  constructor(what: string) {
    super('EINVAL', what);
    this.name = 'InvalidArgument';
  }
}
/** Any other I/O failure (EIO). */
export class IOFailure extends RadosError {
  constructor(what: string) {
    super('EIO', what);
    this.name = 'IOFailure';
  }
}

/** Build the typed error for a (positive or negative) errno number returned by librados. */
export function errorFromErrno(errno: number, what: string): RadosError {
  const n = Math.abs(errno);
  switch (n) {
    case ERRNO.ENOENT:
      return new ObjectNotFound(what);
    case ERRNO.EEXIST:
      return new ObjectExists(what);
    case ERRNO.ECANCELED:
      return new OpCanceled(what);
    case ERRNO.ENODATA:
      return new NoData(what);
    case ERRNO.ERANGE:
    case 75 /* EOVERFLOW */:
      return new VersionMismatch(what);
    case ERRNO.ETIMEDOUT:
      return new TimedOut(what);
    case ERRNO.ENOSPC:
    case 122 /* EDQUOT */:
      return new NoSpace(what);
    case ERRNO.EINVAL:
      return new InvalidArgument(what);
    default: {
      const e = new IOFailure(`${what} (errno ${n})`);
      return e;
    }
  }
}

/** True when `e` is a RadosError with the given errno name. */
export function isErrno(e: unknown, code: ErrnoName): e is RadosError {
  return e instanceof RadosError && e.code === code;
}
