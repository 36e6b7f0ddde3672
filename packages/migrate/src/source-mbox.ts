/**
 * A directory of mbox files as a source (`rmb import USER DIR --format mbox`): each `<name>.mbox`
 * file (levels as directories) is a folder, `INBOX.mbox` the INBOX. Messages are read with the
 * `mbox-reader` package (mboxrd: `>From ` lines unquoted). What mbox keeps beside the message is
 * taken and removed from it, as Dovecot does: `Status`/`X-Status` (flags), `X-Keywords`
 * (keywords), `X-UID` (UID) and `X-IMAPbase` (UIDVALIDITY and UIDNEXT, first message). Lines get
 * CRLF ends; INTERNALDATE is the date of the `From ` line. A folder is read whole when opened
 * (memory: the folder's size); UIDs missing or out of order are given after the highest.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { toCrlf } from '@rmb/librmb';
import { mboxReader } from 'mbox-reader';
import { SourceUnavailable } from './errors.js';
import { specialUseByName } from './names.js';
import { MBOX_META_HEADERS } from './export.js';
import { pathUidvalidity } from './source-maildir.js';
import type { OpenFolder, Source, SourceFolder, SourceMessage, SourceMeta } from './source.js';

/** One parsed folder. */
interface Folder {
  status: SourceFolder;
  messages: SourceMessage[];
}

/** The message without mbox's metadata headers (header section only), CRLF line ends. */
function stripMeta(content: Buffer): Buffer {
  const text = content.toString('latin1');
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split + 1);
  const rest = split < 0 ? '' : text.slice(split + 1);
  const kept: string[] = [];
  let skipping = false;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && line !== '') {
      if (!skipping) kept.push(line);
      continue;
    }
    const name = line.slice(0, Math.max(0, line.indexOf(':'))).toLowerCase();
    skipping = MBOX_META_HEADERS.includes(name);
    if (!skipping) kept.push(line);
  }
  // the reader drops the line end of the last line; a message ends with one
  const out = kept.join('\n') + rest + (rest.endsWith('\n') || (!rest && head.endsWith('\n')) ? '' : '\n');
  return toCrlf(Buffer.from(out, 'latin1'));
}

async function readFolder(root: string, file: string): Promise<Folder> {
  const rel = relative(root, file).replace(/\.mbox$/, '');
  const name = rel.toUpperCase() === 'INBOX' ? 'INBOX' : rel;
  const messages: SourceMessage[] = [];
  let uidvalidity = 0;
  let uidnext = 1;
  let last = 0;
  for await (const m of mboxReader(createReadStream(file))) {
    const h = m.headers;
    const base = h.get('x-imapbase')?.[0]?.split(' ');
    if (!messages.length && base) {
      uidvalidity = Number(base[0]) || 0;
      uidnext = Number(base[1]) || 1;
    }
    const given = Number(h.get('x-uid')?.[0]);
    const uid = Number.isSafeInteger(given) && given > last ? given : last + 1;
    last = uid;
    const keywords = (h.get('x-keywords') ?? []).flatMap((v) => v.split(/[\s,]+/)).filter(Boolean);
    const data = stripMeta(m.content);
    messages.push({
      uid,
      flags: [...m.flags, ...keywords],
      internalDate: m.time instanceof Date && !isNaN(m.time.getTime()) ? m.time.getTime() : Date.now(),
      size: data.length,
      data,
    });
  }
  return {
    status: {
      name,
      delimiter: '/',
      specialUse: specialUseByName(name, '/'),
      subscribed: true,
      noselect: false,
      uidvalidity: uidvalidity || pathUidvalidity(file),
      uidnext: Math.max(uidnext, last + 1),
      messages: messages.length,
    },
    messages,
  };
}

/** Open a directory of mbox files. Throws SourceUnavailable when it is not there. */
export async function openMboxSource(root: string): Promise<Source> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      throw new SourceUnavailable(`mbox directory ${dir} cannot be read`);
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.name.endsWith('.mbox')) files.push(join(dir, e.name));
    }
  };
  await walk(root);
  const folders = new Map<string, Folder>();
  for (const f of files.sort()) {
    const folder = await readFolder(root, f);
    folders.set(folder.status.name, folder);
  }
  return {
    folders: async () => [...folders.values()].map((f) => f.status),
    namespace: async () => `mbox files under ${root}`,
    close: async () => undefined,
    open: async (status: SourceFolder): Promise<OpenFolder> => {
      const f = folders.get(status.name);
      if (!f) throw new SourceUnavailable(`no mbox file for ${status.name}`);
      const byUid = new Map(f.messages.map((m) => [m.uid, m]));
      const meta = (m: SourceMessage): SourceMeta => ({
        uid: m.uid,
        flags: m.flags,
        internalDate: m.internalDate,
        size: m.size,
      });
      return {
        status: f.status,
        condstore: false,
        uids: async () => f.messages.map((m) => m.uid),
        flags: async (lo, hi) =>
          new Map(f.messages.filter((m) => m.uid >= lo && m.uid <= hi).map((m) => [m.uid, m.flags])),
        meta: async (uids) => uids.flatMap((u) => (byUid.has(u) ? [meta(byUid.get(u)!)] : [])),
        bodies: async (uids) => new Map(uids.flatMap((u) => (byUid.has(u) ? [[u, byUid.get(u)!.data]] : []))),
        stream: async (uid) => {
          const m = byUid.get(uid);
          return m
            ? {
                source: (async function* () {
                  yield m.data;
                })(),
                size: m.data.length,
              }
            : null;
        },
      };
    },
  };
}
