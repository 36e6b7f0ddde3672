/**
 * Source URIs of a migration: `imap://host[:port]`, `imaps://host[:port][?insecure]` (a source
 * with a self-signed certificate), `maildir:/path/%u[:LAYOUT=fs]` (a Maildir tree on disk; %u is
 * the source user, %n its local part, %d its domain).
 */
import { MigrateConfigError } from './errors.js';

/** A parsed source URI. */
export type SourceUri =
  | { kind: 'imap'; host: string; port: number; secure: boolean; insecure: boolean }
  | { kind: 'maildir'; path: string; layout: 'maildir++' | 'fs' };

/** Parse a source URI. Throws MigrateConfigError naming what is wrong. */
export function parseSourceUri(uri: string): SourceUri {
  if (uri.startsWith('maildir:')) {
    let path = uri.slice(8);
    let layout: 'maildir++' | 'fs' = 'maildir++';
    const m = /:LAYOUT=(fs|maildir\+\+)$/i.exec(path);
    if (m) {
      layout = m[1].toLowerCase() === 'fs' ? 'fs' : 'maildir++';
      path = path.slice(0, m.index);
    }
    if (!path.startsWith('/')) throw new MigrateConfigError(`source ${uri}: a maildir path must be absolute`);
    return { kind: 'maildir', path, layout };
  }
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new MigrateConfigError(`source ${uri}: not imap://, imaps:// or maildir:`);
  }
  if (u.protocol !== 'imap:' && u.protocol !== 'imaps:') {
    throw new MigrateConfigError(`source ${uri}: not imap://, imaps:// or maildir:`);
  }
  if (!u.hostname) throw new MigrateConfigError(`source ${uri}: no host`);
  const secure = u.protocol === 'imaps:';
  return {
    kind: 'imap',
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 993 : 143,
    secure,
    insecure: u.searchParams.has('insecure'),
  };
}

/** The maildir path of `user` (%u, %n, %d expanded). */
export function maildirOf(path: string, user: string): string {
  const [local, domain = ''] = user.split('@');
  return path.replace(/%u/g, user).replace(/%n/g, local).replace(/%d/g, domain);
}
