/** Mailbox names: the hierarchy separator and the checks every name passes (RFC 3501 §5.1). */
import { InvalidName } from './errors.js';

/** Hierarchy separator of mailbox names. */
export const SEPARATOR = '/';

/** Normalise a mailbox name: INBOX case-insensitively, validity checks (RFC 3501 §5.1). */
export function normalizeName(name: string, maxBytes = 512, maxDepth = 32): string {
  if (/^inbox$/i.test(name)) return 'INBOX';
  if (/^inbox\//i.test(name)) name = 'INBOX' + name.slice(5);
  if (!name || name.startsWith(SEPARATOR) || name.endsWith(SEPARATOR) || name.includes(SEPARATOR + SEPARATOR)) {
    throw new InvalidName(`invalid mailbox name ${JSON.stringify(name)}`);
  }
  if (/[\u0000-\u001f\u007f*%]/.test(name) || name.includes('\ufffd'))
    throw new InvalidName('mailbox name contains invalid characters');
  if (Buffer.byteLength(name) > maxBytes) throw new InvalidName('mailbox name too long');
  // a "." or ".." level could escape a directory where a tool (export, a Maildir) puts the mailbox
  if (name.split(SEPARATOR).some((level) => level === '.' || level === '..'))
    throw new InvalidName('mailbox name has a "." or ".." level');
  if (name.split(SEPARATOR).length > maxDepth) throw new InvalidName('mailbox hierarchy too deep');
  return name;
}
