/**
 * `rmb export USER DIR`: a user's mail written out as a Maildir++ tree or as mbox files, keeping
 * flags, keywords, INTERNALDATEs, UIDs and UIDVALIDITY in the places Dovecot keeps them, so that
 * `rmb import` (source-maildir.ts, source-mbox.ts) or Dovecot reads them back.
 *
 * Maildir++ (Dovecot's default layout; cr.yp.to/proto/maildir.html): INBOX in DIR, every other
 * mailbox in `DIR/.<name>` (levels joined by ".", each in modified UTF-7, a "." inside a level
 * written as "&AC4-"); message files `cur/<date>.M<uid>.rmb,S=<size>,W=<size>:2,<flags>` with the
 * INTERNALDATE as mtime, keyword letters from `dovecot-keywords` (26 per folder, as Dovecot),
 * `dovecot-uidlist` version 3 (UIDVALIDITY, UIDNEXT, each file's UID), `subscriptions` version 2.
 *
 * mbox (mboxrd, one file per mailbox: `DIR/<name>.mbox`, levels as directories): each message
 * after a `From <sender> <asctime date>` line, its line ends as LF, lines starting with `From `
 * (after any `>`) quoted with one more `>`, then `Status`, `X-Status`, `X-Keywords` and `X-UID`
 * headers, and `X-IMAPbase: <uidvalidity> <uidnext>` on the first message (the UW-IMAP/Dovecot
 * convention). An empty mailbox is an empty file: its UIDVALIDITY is not kept (nothing carries it).
 * Memory: one message at a time.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import iconv from 'iconv-lite';
import type { IndexEntry, UserStore } from '@rmb/librmb';

/** What an export wrote. */
export interface ExportReport {
  mailboxes: number;
  messages: number;
  bytes: number;
  /** Keywords beyond the 26 a Maildir folder can name (left out of that folder). */
  droppedKeywords: string[];
}

const LETTERS: Record<string, string> = {
  '\\draft': 'D',
  '\\flagged': 'F',
  '\\answered': 'R',
  '\\seen': 'S',
  '\\deleted': 'T',
};

/** One level of a mailbox name in modified UTF-7 (RFC 3501 §5.1.3), "." written so it cannot split the level. */
function level(name: string): string {
  return iconv.encode(name, 'utf-7-imap').toString('latin1').replace(/\./g, '&AC4-');
}

/** Every message of every mailbox of `user`, in pages (bounded memory), with its bytes. */
async function* messagesOf(user: UserStore, name: string): AsyncGenerator<{ e: IndexEntry; data: Buffer }> {
  const mb = await user.mailbox(name);
  for await (const page of mb.entryPages(1, 200)) {
    const bodies = await Promise.all(page.map((e) => user.mails.read(e.mail)));
    for (let i = 0; i < page.length; i++) yield { e: page[i], data: bodies[i] };
  }
}

/**
 * Write `user`'s mailboxes to `dir` as a Maildir++ tree (see the module comment). Throws the store's
 * and the file system's errors.
 */
export async function exportMaildir(user: UserStore, dir: string): Promise<ExportReport> {
  const report: ExportReport = { mailboxes: 0, messages: 0, bytes: 0, droppedKeywords: [] };
  const subscribed = new Set(await user.subscriptions());
  const subs: string[] = [];
  for (const info of await user.mailboxes()) {
    const folder = info.name === 'INBOX' ? dir : join(dir, `.${info.name.split('/').map(level).join('.')}`);
    for (const d of ['cur', 'new', 'tmp']) await mkdir(join(folder, d), { recursive: true });
    if (subscribed.has(info.name)) subs.push(info.name.split('/').map(level).join('\t'));
    const c = await (await user.mailbox(info.name)).counters();
    const keywords: string[] = [];
    const uidlist: string[] = [];
    for await (const { e, data } of messagesOf(user, info.name)) {
      let flags = '';
      for (const f of e.flags) {
        const sys = LETTERS[f.toLowerCase()];
        if (sys) flags += sys;
        else if (!f.startsWith('\\')) {
          let k = keywords.findIndex((x) => x.toLowerCase() === f.toLowerCase());
          if (k < 0 && keywords.length < 26) k = keywords.push(f) - 1;
          if (k < 0) report.droppedKeywords.push(`${info.name}: ${f}`);
          else flags += String.fromCharCode(97 + k);
        }
      }
      const secs = Math.floor(e.internalDate / 1000);
      const base = `${secs}.M${e.uid}.rmb`;
      const file = join(folder, 'cur', `${base},S=${data.length},W=${data.length}:2,${[...flags].sort().join('')}`);
      await writeFile(file, data);
      await utimes(file, secs, secs);
      uidlist.push(`${e.uid} :${base}`);
      report.messages++;
      report.bytes += data.length;
    }
    await writeFile(join(folder, 'dovecot-keywords'), keywords.map((k, i) => `${i} ${k}\n`).join(''));
    await writeFile(
      join(folder, 'dovecot-uidlist'),
      `3 V${c.uidvalidity} N${c.uidnext}\n${uidlist.map((l) => `${l}\n`).join('')}`,
    );
    report.mailboxes++;
  }
  await writeFile(join(dir, 'subscriptions'), `V\t2\n\n${subs.map((s) => `${s}\n`).join('')}`);
  return report;
}

/** asctime() of `ms` in UTC, as mbox From_ lines carry it ("Mon Dec  7 10:00:00 2026"). */
function asctime(ms: number): string {
  const d = new Date(ms);
  const [wd, mon] = [d.toUTCString().slice(0, 3), d.toUTCString().slice(8, 11)];
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${wd} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
}

/** The headers mbox keeps its metadata in (written by exportMbox, removed by the mbox source). */
export const MBOX_META_HEADERS = ['status', 'x-status', 'x-keywords', 'x-uid', 'x-imapbase'];

/** One message as an mboxrd record (see the module comment). */
export function mboxRecord(data: Buffer, e: IndexEntry, base?: { uidvalidity: number; uidnext: number }): Buffer {
  const text = data.toString('latin1').replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split + 1);
  const body = split < 0 ? '' : text.slice(split + 1);
  const has = (f: string) => e.flags.some((x) => x.toLowerCase() === f);
  const status = `${has('\\seen') ? 'R' : ''}O`;
  const xstatus = [
    ['\\answered', 'A'],
    ['\\flagged', 'F'],
    ['\\draft', 'T'],
    ['\\deleted', 'D'],
  ]
    .map(([f, l]) => (has(f) ? l : ''))
    .join('');
  const keywords = e.flags.filter((f) => !f.startsWith('\\'));
  const meta =
    (base ? `X-IMAPbase: ${base.uidvalidity} ${base.uidnext}\n` : '') +
    `Status: ${status}\nX-Status: ${xstatus}\nX-Keywords: ${keywords.join(' ')}\nX-UID: ${e.uid}\n`;
  const quoted = (head + meta + body).replace(/^(>*From )/gm, '>$1');
  const ends = quoted.endsWith('\n') ? '' : '\n';
  return Buffer.from(`From MAILER-DAEMON ${asctime(e.internalDate)}\n${quoted}${ends}\n`, 'latin1');
}

/** Write `user`'s mailboxes to `dir` as mbox files (see the module comment). */
export async function exportMbox(user: UserStore, dir: string): Promise<ExportReport> {
  const report: ExportReport = { mailboxes: 0, messages: 0, bytes: 0, droppedKeywords: [] };
  for (const info of await user.mailboxes()) {
    const file = join(dir, `${info.name}.mbox`);
    await mkdir(dirname(file), { recursive: true });
    const out = createWriteStream(file);
    const c = await (await user.mailbox(info.name)).counters();
    let first = true;
    for await (const { e, data } of messagesOf(user, info.name)) {
      const rec = mboxRecord(data, e, first ? { uidvalidity: c.uidvalidity, uidnext: c.uidnext } : undefined);
      first = false;
      if (!out.write(rec)) await new Promise<void>((r) => out.once('drain', () => r()));
      report.messages++;
      report.bytes += data.length;
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    report.mailboxes++;
  }
  return report;
}
