/**
 * `rmb fetch`, `rmb search` and `rmb expunge` (issue 15 item 1), as doveadm's fetch, search and
 * expunge: on one mailbox of one user, while servers run. Queries are IMAP SEARCH syntax (the
 * SEARCH command's own parser and matcher, searchMailbox); fetch fields follow doveadm fetch's
 * names (uid, flags, size, date.received, date.saved, modseq, guid, mailbox, hdr, body, text).
 */
import type { Command } from 'commander';
import { findPart, layout, type IndexEntry, type UserStore } from '@rmb/librmb';
import { inSet, parseSeqSet, searchMailbox } from '@rmb/imap';
import { type Base, type Common, type ConfigOrExit, withStore } from './cli-common.js';

/** Fetch fields, doveadm's names, and how each is rendered. */
const FIELDS = [
  'uid',
  'flags',
  'size',
  'date.received',
  'date.saved',
  'modseq',
  'guid',
  'mailbox',
  'hdr',
  'body',
  'text',
];

/** A UID set (`1:5,9`, `*` = the last UID) as a predicate, by IMAP's own sequence-set parser. */
function uidSet(spec: string): (uid: number, max: number) => boolean {
  const set = parseSeqSet(spec);
  if (!('ranges' in set)) throw new Error(`not a UID set: ${spec}`);
  return (uid, max) => inSet(set, uid, max);
}

/** One message's fields as doveadm fetch prints them. */
async function render(
  user: UserStore,
  box: string,
  e: IndexEntry,
  fields: string[],
  part?: number[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let data: Buffer | undefined;
  const bytes = async () => (data ??= await user.mails.read(e.mail));
  const meta = fields.some((f) => ['hdr', 'body', 'text'].includes(f)) ? await user.mails.meta(e.mail) : undefined;
  const node = meta && part ? findPart(meta.root, part) : meta?.root;
  if (meta && !node) throw new Error(`message ${e.uid} has no part ${part!.join('.')}`);
  for (const f of fields) {
    if (f === 'uid') out.uid = String(e.uid);
    else if (f === 'flags') out.flags = e.flags.join(' ');
    else if (f === 'size') out.size = String(e.size);
    else if (f === 'date.received') out[f] = new Date(e.internalDate).toISOString();
    else if (f === 'date.saved') out[f] = new Date(e.saveDate).toISOString();
    else if (f === 'modseq') out.modseq = String(e.modseq);
    else if (f === 'guid') out.guid = layout.emailIdOf(e.mail);
    else if (f === 'mailbox') out.mailbox = box;
    else if (f === 'hdr') out.hdr = (await bytes()).subarray(node!.headerStart, node!.bodyStart).toString('latin1');
    else if (f === 'body') out.body = (await bytes()).subarray(node!.bodyStart, node!.bodyEnd).toString('latin1');
    else if (f === 'text') out.text = (await bytes()).subarray(node!.headerStart, node!.bodyEnd).toString('latin1');
  }
  return out;
}

/** Add fetch, search and expunge to `program`. */
export function addFetchCommands(program: Command, common: Common, configOrExit: ConfigOrExit): void {
  common(
    program
      .command('fetch <user> <mailbox> <uids>')
      .description(`fields of the messages with UIDs in the set (doveadm fetch); fields: ${FIELDS.join(',')}`)
      .option('--fields <list>', 'comma-separated fields', 'uid,flags,size,date.received')
      .option('--part <section>', 'hdr/body/text of this MIME part (IMAP section number, e.g. 1.2)')
      .option('--json', 'one JSON document'),
  ).action(async (user: string, box: string, uids: string, o: Base & { fields: string; part?: string }) => {
    const fields = o.fields.split(',').map((f) => f.trim());
    const bad = fields.filter((f) => !FIELDS.includes(f));
    if (bad.length) throw new Error(`unknown field(s) ${bad.join(', ')}; known: ${FIELDS.join(', ')}`);
    const part = o.part ? o.part.split('.').map(Number) : undefined;
    if (part?.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`not a section number: ${o.part}`);
    const wanted = uidSet(uids);
    const rows = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await store.user(user, false);
      const mb = await u.mailbox(box);
      const max = (await mb.counters()).uidnext - 1;
      const out: Record<string, string>[] = [];
      for await (const page of mb.entryPages(1, 500))
        for (const e of page) if (wanted(e.uid, max)) out.push(await render(u, mb.name, e, fields, part));
      return out;
    });
    if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else
      for (const r of rows)
        process.stdout.write(
          Object.entries(r)
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n') + '\n\n',
        );
  });

  common(
    program
      .command('search <user> <mailbox> <query...>')
      .description('UIDs of the messages matching an IMAP SEARCH query (doveadm search), one per line')
      .option('--json', 'one JSON document'),
  ).action(async (user: string, box: string, query: string[], o: Base) => {
    const uids = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await store.user(user, false);
      return searchMailbox(u, await u.mailbox(box), query.join(' '));
    });
    process.stdout.write(o.json ? JSON.stringify(uids) + '\n' : uids.map((x) => `${x}\n`).join(''));
  });

  common(
    program
      .command('expunge <user> <mailbox> <query...>')
      .description('expunge the messages matching an IMAP SEARCH query (doveadm expunge); prints how many')
      .option('--json', 'one JSON document'),
  ).action(async (user: string, box: string, query: string[], o: Base) => {
    const gone = await withStore(configOrExit(o.config, o.set), async (store) => {
      const u = await store.user(user, false);
      const mb = await u.mailbox(box);
      const uids = await searchMailbox(u, mb, query.join(' '));
      return uids.length ? mb.expunge(uids) : [];
    });
    process.stdout.write(o.json ? JSON.stringify(gone) + '\n' : `${gone.length} expunged\n`);
  });
}
