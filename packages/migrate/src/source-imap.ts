/**
 * An IMAP server as a migration source, through imapflow: LIST (+SPECIAL-USE, subscriptions) with
 * STATUS per folder, EXAMINE, UID SEARCH ALL for the UID set, UID FETCH (FLAGS) with CHANGEDSINCE
 * when the server has CONDSTORE (RFC 7162 §3.1.4), chunked UID FETCH (UID FLAGS INTERNALDATE
 * RFC822.SIZE BODY.PEEK[]) for new mail and a partial-FETCH stream for large mail. Logs in with
 * the user's password, or as a master user: SASL PLAIN with an authorization identity (RFC 4616),
 * or Dovecot's `user*master` login form.
 */
import { ImapFlow, type ListResponse } from 'imapflow';
import { SourceAuthError, SourceUnavailable } from './errors.js';
import type { OpenFolder, Source, SourceFolder, SourceMeta, SourceWriter } from './source.js';
import { specialUseByName } from './names.js';

/** How to reach and log in to an IMAP source. */
export interface ImapSourceOptions {
  host: string;
  port: number;
  secure: boolean;
  /** Accept a certificate that does not verify (a test source, a self-signed server). */
  insecure?: boolean;
  user: string;
  password: string;
  /** Log in as this master user for `user` (password is then the master's). */
  masterUser?: string;
  /** "sasl": AUTHENTICATE PLAIN with authzid; "star": LOGIN user*master (Dovecot). Default "sasl". */
  masterForm?: 'sasl' | 'star';
  /** Connect and greeting timeout, ms. */
  timeoutMs?: number;
}

const SYSTEM_FLAGS = new Set(['\\seen', '\\answered', '\\flagged', '\\deleted', '\\draft']);

/** Flags from imapflow, \Recent dropped, system flags in their canonical case. */
function cleanFlags(flags: Set<string> | undefined): string[] {
  const out: string[] = [];
  for (const f of flags ?? []) {
    const l = f.toLowerCase();
    if (l === '\\recent') continue;
    out.push(SYSTEM_FLAGS.has(l) ? '\\' + l.charAt(1).toUpperCase() + l.slice(2) : f);
  }
  return out;
}

/** A failure of imapflow as a typed migration error. */
function typed(e: unknown, what: string): Error {
  const err = e as { authenticationFailed?: boolean; serverResponseCode?: string; code?: string; message?: string };
  if (err.authenticationFailed || err.serverResponseCode === 'AUTHENTICATIONFAILED') {
    return new SourceAuthError(`${what}: authentication failed`);
  }
  const detail = err.serverResponseCode ?? err.code ?? '';
  return new SourceUnavailable(`${what}: ${err.message ?? String(e)}${detail ? ` (${detail})` : ''}`);
}

/** Open an IMAP source: connects and logs in. Throws SourceAuthError or SourceUnavailable. */
export async function openImapSource(o: ImapSourceOptions): Promise<Source> {
  const star = o.masterUser && o.masterForm === 'star';
  const client = new ImapFlow({
    host: o.host,
    port: o.port,
    secure: o.secure,
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: o.timeoutMs ?? 30000,
    greetingTimeout: o.timeoutMs ?? 30000,
    tls: { rejectUnauthorized: !o.insecure },
    auth: star
      ? { user: `${o.user}*${o.masterUser}`, pass: o.password }
      : o.masterUser
        ? { user: o.masterUser, pass: o.password, authzid: o.user, loginMethod: 'AUTH=PLAIN' }
        : { user: o.user, pass: o.password },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw typed(e, `source ${o.host}:${o.port} user ${o.user}`);
  }
  return new ImapSource(client, `${o.host}:${o.port}`);
}

class ImapSource implements Source {
  readonly writer: SourceWriter;
  constructor(
    private readonly client: ImapFlow,
    private readonly where: string,
  ) {
    this.writer = new ImapWriter(client, where);
  }

  async folders(): Promise<SourceFolder[]> {
    const condstore = this.client.capabilities.has('CONDSTORE') || this.client.capabilities.has('QRESYNC');
    const size = this.client.capabilities.has('STATUS=SIZE') || this.client.capabilities.has('IMAP4REV2');
    let list: ListResponse[];
    try {
      list = await this.client.list({
        statusQuery: { messages: true, uidNext: true, uidValidity: true, highestModseq: condstore, size },
      });
    } catch (e) {
      throw typed(e, `source ${this.where}: LIST`);
    }
    // with SPECIAL-USE (RFC 6154) the server's word stands; without it, the table of localized names
    const specialUse = this.client.capabilities.has('SPECIAL-USE');
    return list.map((l) => {
      const noselect = l.flags.has('\\Noselect') || l.flags.has('\\NonExistent');
      const st = l.status;
      return {
        name: l.path,
        delimiter: l.delimiter || null,
        specialUse: specialUse
          ? l.specialUseSource === 'extension'
            ? (l.specialUse ?? null)
            : null
          : specialUseByName(l.path, l.delimiter || null),
        // imapflow leaves it undefined for a folder LSUB did not name
        subscribed: !!l.subscribed,
        noselect,
        uidvalidity: Number(st?.uidValidity ?? 0),
        uidnext: st?.uidNext ?? 1,
        messages: st?.messages ?? 0,
        ...(condstore && st?.highestModseq !== undefined ? { highestModseq: Number(st.highestModseq) } : {}),
        ...(st && 'size' in st && typeof (st as { size?: number }).size === 'number'
          ? { size: (st as { size: number }).size }
          : {}),
      };
    });
  }

  async open(folder: SourceFolder): Promise<OpenFolder> {
    let mb;
    try {
      mb = await this.client.mailboxOpen(folder.name, { readOnly: true });
    } catch (e) {
      throw typed(e, `source ${this.where}: EXAMINE ${folder.name}`);
    }
    const status: SourceFolder = {
      ...folder,
      uidvalidity: Number(mb.uidValidity),
      uidnext: mb.uidNext,
      messages: mb.exists,
      ...(mb.highestModseq !== undefined ? { highestModseq: Number(mb.highestModseq) } : {}),
    };
    return new ImapFolder(this.client, status, this.where);
  }

  async namespace(): Promise<string> {
    const ns = this.client.namespaces;
    return JSON.stringify(ns ?? null);
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}

/** Writes to an IMAP source (rollback): CREATE, APPEND with flags and date, UID STORE. */
class ImapWriter implements SourceWriter {
  constructor(
    private readonly client: ImapFlow,
    private readonly where: string,
  ) {}

  async create(name: string): Promise<void> {
    try {
      await this.client.mailboxCreate(name);
    } catch (e) {
      // ALREADYEXISTS (RFC 5530) or a server that says so in words
      const text = String((e as { responseText?: string }).responseText ?? (e as Error).message);
      if (!/ALREADYEXISTS|already exists/i.test(text)) throw typed(e, `source ${this.where}: CREATE ${name}`);
    }
  }

  async append(folder: string, data: Buffer, flags: string[], internalDate: number): Promise<number | null> {
    try {
      const r = await this.client.append(folder, data, flags, new Date(internalDate));
      return r && typeof r === 'object' && r.uid ? Number(r.uid) : null;
    } catch (e) {
      throw typed(e, `source ${this.where}: APPEND to ${folder}`);
    }
  }

  private async select(folder: string): Promise<void> {
    if (this.client.mailbox && this.client.mailbox.path === folder && !this.client.mailbox.readOnly) return;
    try {
      await this.client.mailboxOpen(folder);
    } catch (e) {
      throw typed(e, `source ${this.where}: SELECT ${folder}`);
    }
  }

  async setFlags(folder: string, uid: number, flags: string[]): Promise<void> {
    await this.select(folder);
    try {
      await this.client.messageFlagsSet(String(uid), flags, { uid: true });
    } catch (e) {
      throw typed(e, `source ${this.where}: UID STORE ${uid} in ${folder}`);
    }
  }

  async markDeleted(folder: string, uids: number[]): Promise<void> {
    if (!uids.length) return;
    await this.select(folder);
    try {
      await this.client.messageFlagsAdd(uidSet(uids), ['\\Deleted'], { uid: true });
    } catch (e) {
      throw typed(e, `source ${this.where}: UID STORE +FLAGS \\Deleted in ${folder}`);
    }
  }
}

/** UID set text of ascending UIDs, runs collapsed ("1:5,9"). */
export function uidSet(uids: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < uids.length;) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j] + 1) j++;
    parts.push(i === j ? String(uids[i]) : `${uids[i]}:${uids[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

class ImapFolder implements OpenFolder {
  readonly condstore: boolean;
  constructor(
    private readonly client: ImapFlow,
    readonly status: SourceFolder,
    private readonly where: string,
  ) {
    this.condstore = status.highestModseq !== undefined && status.highestModseq > 0;
  }

  private what(cmd: string): string {
    return `source ${this.where}: ${cmd} in ${this.status.name}`;
  }

  async uids(): Promise<number[]> {
    if (!this.status.messages) return [];
    try {
      const r = await this.client.search({ all: true }, { uid: true });
      return (r || []).sort((a, b) => a - b);
    } catch (e) {
      throw typed(e, this.what('UID SEARCH'));
    }
  }

  async flags(lo: number, hi: number, changedSince?: number): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    try {
      for await (const m of this.client.fetch(
        `${lo}:${hi}`,
        { uid: true, flags: true },
        { uid: true, ...(changedSince && this.condstore ? { changedSince } : {}) },
      )) {
        out.set(m.uid, cleanFlags(m.flags));
      }
    } catch (e) {
      throw typed(e, this.what('UID FETCH FLAGS'));
    }
    return out;
  }

  async meta(uids: number[]): Promise<SourceMeta[]> {
    if (!uids.length) return [];
    const out: SourceMeta[] = [];
    try {
      for await (const m of this.client.fetch(
        uidSet(uids),
        { uid: true, flags: true, internalDate: true, size: true },
        { uid: true },
      )) {
        out.push({
          uid: m.uid,
          flags: cleanFlags(m.flags),
          internalDate: new Date(m.internalDate ?? 0).getTime(),
          size: m.size ?? 0,
          // imapflow adds MODSEQ to every FETCH once CONDSTORE is enabled (it enables it when offered)
          ...(m.modseq !== undefined ? { modseq: Number(m.modseq) } : {}),
        });
      }
    } catch (e) {
      throw typed(e, this.what('UID FETCH'));
    }
    return out.sort((a, b) => a.uid - b.uid);
  }

  async bodies(uids: number[]): Promise<Map<number, Buffer>> {
    const out = new Map<number, Buffer>();
    if (!uids.length) return out;
    try {
      for await (const m of this.client.fetch(uidSet(uids), { uid: true, source: true }, { uid: true })) {
        out.set(m.uid, m.source ?? Buffer.alloc(0));
      }
    } catch (e) {
      throw typed(e, this.what('UID FETCH BODY.PEEK[]'));
    }
    return out;
  }

  async stream(uid: number): Promise<{ source: AsyncIterable<Buffer>; size: number } | null> {
    try {
      const d = await this.client.download(String(uid), undefined, { uid: true, chunkSize: 1 << 20 });
      return d.content && d.meta ? { source: d.content, size: d.meta.expectedSize ?? 0 } : null;
    } catch (e) {
      throw typed(e, this.what('UID FETCH BODY.PEEK[]<partial>'));
    }
  }
}
