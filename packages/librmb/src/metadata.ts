/**
 * Per-user METADATA entries (RFC 5464): server entries (mailbox "") and mailbox entries, each
 * /private/... or /shared/..., kept in one omap object per user ("metadata"), key
 * "<mailbox id>\0<entry name, lower case>" so that RENAME keeps them and DELETE drops them by prefix.
 * Limits (bytes per value, entries per user) are MetadataOptions; breaking one throws MetadataLimit.
 */
import { type IoCtx, isErrno, WriteOp } from '@rmb/rados';
import { fromStoreError, MailError } from './errors.js';
import { METADATA_OID, metadataKey } from './layout.js';

/** Limits on metadata (RFC 5464 §4.3 MAXSIZE and TOOMANY). */
export interface MetadataOptions {
  /** Largest value in bytes (default 65536). */
  maxEntryBytes: number;
  /** Most entries per user, server and mailboxes together (default 1000). */
  maxEntries: number;
}

export const DEFAULT_METADATA: MetadataOptions = { maxEntryBytes: 64 * 1024, maxEntries: 1000 };

/** A metadata limit was hit: IMAP `NO [METADATA MAXSIZE n]` or `NO [METADATA TOOMANY]` (RFC 5464 §4.3). */
export class MetadataLimit extends MailError {
  constructor(
    readonly kind: 'MAXSIZE' | 'TOOMANY',
    readonly limit: number,
    message: string,
  ) {
    super('MetadataLimit', message);
    this.name = 'MetadataLimit';
  }
}

/** Depth of a GETMETADATA request (RFC 5464 §4.2.2): the entry, its children, or all below it. */
export type MetadataDepth = '0' | '1' | 'infinity';

const OID = METADATA_OID;
const PAGE = 1000;

/** Whether a string is a valid entry name (RFC 5464 §3.2): /private or /shared and slash-separated parts. */
export function validEntry(e: string): boolean {
  return /^\/(private|shared)(\/[^/*%\x00-\x1f\x7f]+)*$/i.test(e) && !e.includes('//');
}

async function list(io: IoCtx, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let after: string | undefined;
  try {
    for (;;) {
      const page = await io.omapList(OID, { prefix, startAfter: after, max: PAGE });
      for (const [k, v] of page.entries) {
        out.set(k, v);
        after = k;
      }
      if (!page.more || !page.entries.size) return out;
    }
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return out;
    throw fromStoreError(e, 'read metadata');
  }
}

/**
 * Entries of `scope` (a mailbox id, or '' for the server) named in `entries`, with children to
 * `depth`. Returns entry name -> value; entries without a value are absent.
 */
export async function getMetadata(
  io: IoCtx,
  scope: string,
  entries: string[],
  depth: MetadataDepth,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of entries) {
    const name = entry.toLowerCase();
    const prefix = metadataKey(scope, name);
    const found = depth === '0' ? await exact(io, prefix) : await list(io, prefix);
    for (const [k, v] of found) {
      const e = k.slice(scope.length + 1);
      if (e !== name && !e.startsWith(`${name}/`)) continue; // "/private/a" must not match "/private/ab"
      const below = e === name ? 0 : e.slice(name.length + 1).split('/').length;
      if (depth === '0' && below > 0) continue;
      if (depth === '1' && below > 1) continue;
      out.set(e, v);
    }
  }
  return out;
}

async function exact(io: IoCtx, key: string): Promise<Map<string, Buffer>> {
  try {
    return await io.omapGetByKeys(OID, [key]);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return new Map();
    throw fromStoreError(e, 'read metadata');
  }
}

/**
 * Set (value) or remove (null) entries of `scope` in one atomic step. Throws MetadataLimit
 * (a value over maxEntryBytes; more than maxEntries in all) before changing anything.
 */
export async function setMetadata(
  io: IoCtx,
  scope: string,
  values: Map<string, Buffer | null>,
  o: MetadataOptions,
): Promise<void> {
  const set: Record<string, Buffer> = {};
  const rm: string[] = [];
  for (const [entry, v] of values) {
    const key = metadataKey(scope, entry.toLowerCase());
    if (v === null) {
      rm.push(key);
      continue;
    }
    if (v.length > o.maxEntryBytes)
      throw new MetadataLimit('MAXSIZE', o.maxEntryBytes, `Value of ${entry} is larger than ${o.maxEntryBytes} bytes`);
    set[key] = v;
  }
  if (Object.keys(set).length) {
    const existing = await list(io, '');
    const after = new Set(existing.keys());
    for (const k of rm) after.delete(k);
    for (const k of Object.keys(set)) after.add(k);
    if (after.size > o.maxEntries)
      throw new MetadataLimit('TOOMANY', o.maxEntries, `More than ${o.maxEntries} metadata entries`);
  }
  const op = new WriteOp();
  if (Object.keys(set).length) op.omapSet(set);
  if (rm.length) op.omapRm(rm);
  try {
    await io.operate(OID, op);
  } catch (e) {
    throw fromStoreError(e, 'write metadata');
  }
}

/** Remove every entry of a mailbox (after DELETE). */
export async function dropMetadata(io: IoCtx, scope: string): Promise<void> {
  const keys = [...(await list(io, metadataKey(scope, ''))).keys()];
  if (keys.length) await io.operate(OID, new WriteOp().omapRm(keys));
}
