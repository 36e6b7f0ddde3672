/**
 * A Maildir tree on disk as a migration source (the fast path for operators on NFS): folders in
 * Maildir++ (`.Folder.Sub`, names in modified UTF-7) or `LAYOUT=fs` (`Folder/Sub`) layout;
 * Dovecot's `dovecot-uidlist` (UIDVALIDITY, UIDNEXT, each file's UID), `dovecot-keywords`
 * (keyword letters a..z), the flags in file names (`:2,DFRST` + keyword letters), the
 * `subscriptions` file. INTERNALDATE is the file's mtime (Dovecot's received date for Maildir),
 * RFC822.SIZE the size with CRLF line ends (the file's `,W=` when given). A plain Maildir without
 * `dovecot-uidlist` gets UIDs in delivery order (the time stamp that starts each file name).
 * References: Maildir (cr.yp.to/proto/maildir.html), Maildir++, Dovecot's maildir format docs.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { SourceUnavailable } from './errors.js';
import { specialUseByName } from './names.js';
import type { OpenFolder, Source, SourceFolder, SourceMeta } from './source.js';

const FLAG_LETTERS: Record<string, string> = {
  D: '\\Draft',
  F: '\\Flagged',
  R: '\\Answered',
  S: '\\Seen',
  T: '\\Deleted',
};

/** A mailbox name on disk (modified UTF-7, RFC 3501 §5.1.3) as UTF-8; invalid text kept as Latin-1. */
function decodeName(raw: string): string {
  if (!/[&]/.test(raw)) return raw;
  try {
    return iconv.decode(Buffer.from(raw, 'latin1'), 'utf-7-imap');
  } catch {
    return raw;
  }
}

/** A path: a string, or bytes where a directory name is not UTF-8 (8-bit names on old servers). */
type P = string | Buffer;

/** Join path parts; a Buffer when any part is one. */
function pj(...parts: P[]): P {
  if (parts.every((x) => typeof x === 'string')) return join(...(parts as string[]));
  const bufs: Buffer[] = [];
  parts.forEach((x, i) => {
    if (i) bufs.push(Buffer.from('/'));
    bufs.push(typeof x === 'string' ? Buffer.from(x) : x);
  });
  return Buffer.concat(bufs);
}

/** A directory name's bytes as text: UTF-8 when valid (then modified UTF-7 decoded), else Latin-1. */
function nameOf(raw: Buffer): { text: string; path: P } {
  const utf8 = raw.toString('utf8');
  if (Buffer.from(utf8, 'utf8').equals(raw)) return { text: utf8, path: utf8 };
  return { text: raw.toString('latin1'), path: raw };
}

const exists = (p: P) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** One folder directory: its name (UTF-8, "/" between levels) and path. */
interface FolderDir {
  name: string;
  dir: P;
}

/** Parsed dovecot-uidlist: header values and file base name -> UID. */
interface UidList {
  uidvalidity: number;
  uidnext: number;
  byBase: Map<string, number>;
}

/** Read a dovecot-uidlist (version 1 or 3). Null when there is none. */
async function readUidList(dir: P): Promise<UidList | null> {
  let text: string;
  try {
    text = await readFile(pj(dir, 'dovecot-uidlist'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const head = lines[0].split(' ');
  let uidvalidity = 0;
  let uidnext = 1;
  if (head[0] === '3') {
    for (const h of head.slice(1)) {
      if (h[0] === 'V') uidvalidity = Number(h.slice(1));
      if (h[0] === 'N') uidnext = Number(h.slice(1));
    }
  } else {
    uidvalidity = Number(head[1]);
    uidnext = Number(head[2]);
  }
  const byBase = new Map<string, number>();
  for (const l of lines.slice(1)) {
    if (!l) continue;
    const uid = Number(l.slice(0, l.indexOf(' ')));
    const colon = head[0] === '3' ? l.indexOf(' :') : l.indexOf(' ');
    const base = head[0] === '3' ? l.slice(colon + 2) : l.slice(colon + 1);
    if (uid > 0 && base) byBase.set(baseKey(base), uid);
    // the header's N is written lazily (Dovecot's index holds the real one): never below a listed UID
    if (uid >= uidnext) uidnext = uid + 1;
  }
  return { uidvalidity, uidnext, byBase };
}

/** The part of a Maildir file name that identifies it: before the flags (":2,") and the ",S=" / ",W=" fields. */
function baseKey(name: string): string {
  return name.split(':')[0].split(',')[0];
}

/** The ",W=<size>" field of a Maildir file name (Dovecot: the size with CRLF line ends). */
function sizeField(name: string): number | undefined {
  const w = /,W=(\d+)/.exec(name.split(':')[0]);
  return w ? Number(w[1]) : undefined;
}

/** A stable 32-bit UIDVALIDITY for a folder without dovecot-uidlist (from its path). */
export function pathUidvalidity(dir: P): number {
  let h = 2166136261;
  for (const c of Buffer.from(dir)) h = Math.imul(h ^ c, 16777619) >>> 0;
  return (h % 2147483647) + 1;
}

/** A message file of a folder. */
interface MailFile {
  uid: number;
  path: P;
  base: string;
  /** The ",W=" size (RFC822.SIZE) from the file name, when given. */
  sizeField?: number;
  info: string;
}

/** Open a Maildir tree (the root of one user). Throws SourceUnavailable when it is not there. */
export async function openMaildirSource(root: string, layout: 'maildir++' | 'fs'): Promise<Source> {
  if (!(await exists(root))) throw new SourceUnavailable(`maildir ${root} does not exist`);
  return new MaildirSource(root, layout);
}

class MaildirSource implements Source {
  constructor(
    private readonly root: string,
    private readonly layout: 'maildir++' | 'fs',
  ) {}

  private async dirs(): Promise<FolderDir[]> {
    const out: FolderDir[] = [];
    if (await exists(pj(this.root, 'cur'))) out.push({ name: 'INBOX', dir: this.root });
    if (this.layout === 'maildir++') {
      for (const e of await readdir(this.root, { withFileTypes: true, encoding: 'buffer' })) {
        const { text, path } = nameOf(e.name);
        if (!e.isDirectory() || !text.startsWith('.') || text === '.' || text === '..') continue;
        const name = text.slice(1).split('.').map(decodeName).join('/');
        out.push({ name: name.toUpperCase() === 'INBOX' ? 'INBOX' : name, dir: pj(this.root, path) });
      }
    } else {
      const walk = async (dir: P, prefix: string[]) => {
        for (const e of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
          const { text, path: part } = nameOf(e.name);
          if (!e.isDirectory() || ['cur', 'new', 'tmp'].includes(text)) continue;
          const path = pj(dir, part);
          const levels = [...prefix, decodeName(text)];
          if (await exists(pj(path, 'cur'))) {
            const name = levels.join('/');
            if (name.toUpperCase() === 'INBOX' && out.some((f) => f.name === 'INBOX')) continue;
            out.push({ name: name.toUpperCase() === 'INBOX' ? 'INBOX' : name, dir: path });
          }
          await walk(path, levels);
        }
      };
      await walk(this.root, []);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async subscriptions(): Promise<Set<string>> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'subscriptions'), 'utf8');
    } catch {
      return new Set();
    }
    const lines = text.split('\n');
    const out = new Set<string>();
    if (lines[0] === 'V\t2') {
      // version 2: a header, an empty line, then names (modified UTF-7) with TAB between levels
      for (const l of lines.slice(lines.indexOf('') + 1)) if (l) out.add(l.split('\t').map(decodeName).join('/'));
    } else {
      for (const l of lines)
        if (l) out.add((this.layout === 'fs' ? l.split('/') : l.split('.')).map(decodeName).join('/'));
    }
    return out;
  }

  async folders(): Promise<SourceFolder[]> {
    const subs = await this.subscriptions();
    const out: SourceFolder[] = [];
    for (const f of await this.dirs()) {
      const files = await listFiles(f.dir);
      const list = await readUidList(f.dir);
      const known = list ? files.filter((x) => list.byBase.has(x.base)).length : 0;
      const unknown = files.length - known;
      out.push({
        name: f.name,
        delimiter: '/',
        specialUse: specialUseByName(f.name, '/'),
        subscribed: subs.has(f.name),
        noselect: false,
        uidvalidity: list?.uidvalidity || pathUidvalidity(f.dir),
        uidnext: (list?.uidnext ?? 1) + unknown,
        messages: files.length,
      });
    }
    return out;
  }

  async open(folder: SourceFolder): Promise<OpenFolder> {
    const f = (await this.dirs()).find((d) => d.name === folder.name);
    if (!f) throw new SourceUnavailable(`maildir folder ${folder.name} is gone`);
    const files = await listFiles(f.dir);
    const list = await readUidList(f.dir);
    const keywords = await readKeywords(f.dir);
    // files Dovecot has not seen yet get UIDs from UIDNEXT on, in delivery order (as Dovecot would)
    let next = list?.uidnext ?? 1;
    const byUid = new Map<number, MailFile>();
    const fresh: Omit<MailFile, 'uid'>[] = [];
    for (const m of files) {
      const uid = list?.byBase.get(m.base);
      if (uid) byUid.set(uid, { ...m, uid });
      else fresh.push(m);
    }
    fresh.sort((a, b) => deliveryKey(a.base) - deliveryKey(b.base) || (a.base < b.base ? -1 : 1));
    for (const m of fresh) byUid.set(next, { ...m, uid: next++ });
    const status: SourceFolder = {
      ...folder,
      uidvalidity: list?.uidvalidity || pathUidvalidity(f.dir),
      uidnext: next,
      messages: files.length,
    };
    return new MaildirFolder(status, byUid, keywords);
  }

  async namespace(): Promise<string> {
    return `maildir ${this.root} (${this.layout})`;
  }

  async close(): Promise<void> {}
}

/** The size of a file with every bare LF counted as CRLF (read in pieces, never whole). */
async function crlfSize(path: P): Promise<number> {
  let size = 0;
  let prevCr = false;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    size += b.length;
    for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) {
      if (!(i === 0 ? prevCr : b[i - 1] === 0x0d)) size++;
    }
    if (b.length) prevCr = b[b.length - 1] === 0x0d;
  }
  return size;
}

/** Delivery order of a file name: the seconds that start it (then the name). */
function deliveryKey(base: string): number {
  const n = parseInt(base, 10);
  return Number.isFinite(n) ? n : 0;
}

async function listFiles(dir: P): Promise<Omit<MailFile, 'uid'>[]> {
  const out: Omit<MailFile, 'uid'>[] = [];
  for (const sub of ['new', 'cur']) {
    let names: string[];
    try {
      names = await readdir(pj(dir, sub) as string);
    } catch {
      continue;
    }
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const i = n.indexOf(':');
      out.push({ path: pj(dir, sub, n), base: baseKey(n), sizeField: sizeField(n), info: i < 0 ? '' : n.slice(i + 1) });
    }
  }
  return out;
}

async function readKeywords(dir: P): Promise<string[]> {
  const out: string[] = [];
  try {
    for (const l of (await readFile(pj(dir, 'dovecot-keywords'), 'utf8')).split('\n')) {
      const m = /^(\d+) (.+)$/.exec(l);
      if (m) out[Number(m[1])] = m[2];
    }
  } catch {
    // no keywords
  }
  return out;
}

class MaildirFolder implements OpenFolder {
  readonly condstore = false;
  private readonly sorted: number[];
  constructor(
    readonly status: SourceFolder,
    private readonly byUid: Map<number, MailFile>,
    private readonly keywords: string[],
  ) {
    this.sorted = [...byUid.keys()].sort((a, b) => a - b);
  }

  async uids(): Promise<number[]> {
    return this.sorted;
  }

  private flagsOf(m: MailFile): string[] {
    if (!m.info.startsWith('2,')) return [];
    const out: string[] = [];
    for (const c of m.info.slice(2)) {
      if (FLAG_LETTERS[c]) out.push(FLAG_LETTERS[c]);
      else if (c >= 'a' && c <= 'z') {
        const k = this.keywords[c.charCodeAt(0) - 97];
        if (k) out.push(k);
      }
    }
    return out;
  }

  async flags(lo: number, hi: number): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    for (const uid of this.sorted) {
      if (uid < lo) continue;
      if (uid > hi) break;
      out.set(uid, this.flagsOf(this.byUid.get(uid)!));
    }
    return out;
  }

  async meta(uids: number[]): Promise<SourceMeta[]> {
    const out: SourceMeta[] = [];
    for (const uid of uids) {
      const m = this.byUid.get(uid);
      if (!m) continue;
      let st;
      try {
        st = await stat(m.path);
      } catch {
        continue; // expunged meanwhile
      }
      const size = m.sizeField ?? (await crlfSize(m.path));
      out.push({ uid, flags: this.flagsOf(m), internalDate: Math.floor(st.mtimeMs / 1000) * 1000, size });
    }
    return out;
  }

  async bodies(uids: number[]): Promise<Map<number, Buffer>> {
    const out = new Map<number, Buffer>();
    for (const uid of uids) {
      const m = this.byUid.get(uid);
      if (!m) continue;
      try {
        out.set(uid, await readFile(m.path));
      } catch {
        // expunged meanwhile
      }
    }
    return out;
  }

  async stream(uid: number): Promise<{ source: AsyncIterable<Buffer>; size: number } | null> {
    const m = this.byUid.get(uid);
    if (!m) return null;
    let size: number;
    try {
      size = (await stat(m.path)).size;
    } catch {
      return null;
    }
    return { source: createReadStream(m.path, { highWaterMark: 1 << 20 }), size };
  }
}
