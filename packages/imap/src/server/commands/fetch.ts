/**
 * FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2). FLAGS, UID, sizes and dates come from the
 * index; ENVELOPE and BODYSTRUCTURE from the mail object's stored metadata (no message bytes
 * read); a body section is one ranged read of the mail object.
 */
import { findPart, type IndexEntry, type MimePart, type StoredMeta, type UserStore } from '@rmb/librmb';
import type { CommandSpec } from '../context.js';
import { asText, type Token } from '../../protocol/tokens.js';
import { absentRanges, inSet, parseSeqSet, rangesString, toSeqString } from '../../protocol/sequence.js';
import { type FetchItem, parseFetchItems, parseSection, setsSeen, type Section } from '../../protocol/fetch.js';
import { atom, bodyStructureValue, type Chunk, encodeValue, envelopeValue, type Value } from '../../protocol/encode.js';
import { bad } from '../errors.js';
import { decodeForFetch } from './binary.js';
import { previewText } from './preview.js';

import { formatDateTime } from '../../protocol/dates.js';

/** Keep or drop header fields of a header block (HEADER.FIELDS / .NOT), case-insensitively. */
export function filterHeader(block: Buffer, fields: string[], not: boolean): Buffer {
  const want = new Set(fields.map((f) => f.toLowerCase()));
  const text = block.toString('binary');
  const lines = text.split(/(?<=\n)/);
  const out: string[] = [];
  let keep = false;
  for (const line of lines) {
    if (line === '\r\n' || line === '\n') break;
    if (line[0] === ' ' || line[0] === '\t') {
      if (keep) out.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = (colon > 0 ? line.slice(0, colon) : line).trim().toLowerCase();
    keep = colon > 0 && want.has(name) !== not;
    if (keep) out.push(line.endsWith('\n') ? line : `${line}\r\n`);
  }
  out.push('\r\n');
  return Buffer.from(out.join(''), 'binary');
}

/** The byte range [start, end) of a section, or null when the part does not exist. */
function sectionRange(meta: StoredMeta, s: Section): { start: number; end: number; headerOf?: MimePart } | null {
  const part = findPart(meta.root, s.path);
  if (!part) return null;
  if (!s.path.length) {
    switch (s.spec) {
      case '':
        return { start: 0, end: meta.size };
      case 'TEXT':
        return { start: part.bodyStart, end: part.bodyEnd };
      default:
        return { start: part.headerStart, end: part.bodyStart, headerOf: part };
    }
  }
  switch (s.spec) {
    case '':
      return { start: part.bodyStart, end: part.bodyEnd };
    case 'MIME':
      return { start: part.headerStart, end: part.bodyStart };
    case 'TEXT':
    case 'HEADER':
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT': {
      const inner = part.message?.root;
      if (!inner) return null;
      if (s.spec === 'TEXT') return { start: inner.bodyStart, end: inner.bodyEnd };
      return { start: inner.headerStart, end: inner.bodyStart, headerOf: inner };
    }
  }
}

/**
 * The bytes of a body section ("", "1.2", "HEADER", "2.MIME", "HEADER.FIELDS (...)", as in
 * BODY[section], RFC 3501 §6.4.5) of a mail, or null when the part does not exist. Used by
 * CATENATE's URLs (RFC 4469). Throws BAD for a malformed section.
 */
export async function readSection(user: UserStore, e: IndexEntry, section: string): Promise<Buffer | null> {
  const meta = await user.messageMeta(e);
  let s: Section;
  try {
    s = parseSection(section);
  } catch {
    throw bad('Invalid section');
  }
  const r = sectionRange(meta, s);
  if (!r) return null;
  const data = await user.messageBytes(e, r.start, r.end - r.start);
  if (s.spec === 'HEADER.FIELDS' || s.spec === 'HEADER.FIELDS.NOT')
    return filterHeader(data, s.fields, s.spec === 'HEADER.FIELDS.NOT');
  return data;
}

function partial(buf: Buffer, p?: [number, number]): Buffer {
  if (!p) return buf;
  return buf.subarray(Math.min(p[0], buf.length), Math.min(p[0] + p[1], buf.length));
}

async function bodySection(
  user: UserStore,
  e: IndexEntry,
  meta: StoredMeta,
  item: FetchItem & { kind: 'body' },
  threshold: number,
): Promise<Value> {
  const r = sectionRange(meta, item.section);
  const label = item.partial ? `${item.label}<${item.partial[0]}>` : item.label;
  if (!r) return [atom(label), ''];
  let data: Buffer;
  if (item.section.spec === 'HEADER.FIELDS' || item.section.spec === 'HEADER.FIELDS.NOT') {
    data = partial(
      filterHeader(
        await user.messageBytes(e, r.start, r.end - r.start),
        item.section.fields,
        item.section.spec === 'HEADER.FIELDS.NOT',
      ),
      item.partial,
    );
  } else if (item.partial) {
    const [off, len] = item.partial;
    const start = Math.min(r.start + off, r.end);
    data = await user.messageBytes(e, start, Math.min(len, r.end - start));
  } else {
    return [atom(label), await lazyOrRead(user, e, r.start, r.end, threshold)];
  }
  return [atom(label), { literal: data }];
}

/** Bytes [start, end) of a mail: read now, or, above the streaming threshold, sent piece by piece. */
async function lazyOrRead(
  user: UserStore,
  e: IndexEntry,
  start: number,
  end: number,
  threshold: number,
): Promise<Value> {
  if (end - start <= threshold) return { literal: await user.messageBytes(e, start, end - start) };
  return { lazy: { size: end - start, read: (off, len) => user.messageBytes(e, start + off, len) } };
}

/** Items answered from the index entry alone (no mail object read). */
const INDEX_ITEMS = new Set([
  'UID',
  'FLAGS',
  'INTERNALDATE',
  'RFC822.SIZE',
  'MODSEQ',
  'SAVEDATE',
  'EMAILID',
  'THREADID',
]);

/** Whether any of `items` needs the message's MIME metadata (or its bytes). */
function needsMeta(items: FetchItem[]): boolean {
  return items.some((i) => i.kind !== 'simple' || ['ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'PREVIEW'].includes(i.name));
}

/** The attribute list of one FETCH response, each name once (the first value given wins). */
function collector(): { vals: Value[]; add: (k: string, v: Value) => void } {
  const vals: Value[] = [];
  const seen = new Set<string>();
  return {
    vals,
    add: (k, v) => {
      if (!seen.has(k)) {
        seen.add(k);
        vals.push(atom(k), v);
      }
    },
  };
}

/** Add the index item `name` (INDEX_ITEMS) of entry `e`; false when `name` is not one. */
function indexItem(name: string, user: UserStore, e: IndexEntry, flags: string[], add: (k: string, v: Value) => void) {
  switch (name) {
    case 'UID':
      add('UID', e.uid);
      return true;
    case 'FLAGS':
      add(
        'FLAGS',
        flags.map((f) => atom(f)),
      );
      return true;
    case 'INTERNALDATE':
      add('INTERNALDATE', formatDateTime(e.internalDate));
      return true;
    case 'RFC822.SIZE':
      add('RFC822.SIZE', e.size);
      return true;
    case 'MODSEQ':
      add('MODSEQ', [e.modseq]);
      return true;
    case 'SAVEDATE':
      add('SAVEDATE', formatDateTime(e.saveDate));
      return true;
    case 'EMAILID':
      add('EMAILID', [atom(user.emailId(e))]); // RFC 8474 §5.1
      return true;
    case 'THREADID':
      add('THREADID', null); // RFC 8474 §5.2: NIL, no threads computed
      return true;
  }
  return false;
}

/** One index item of entry `e` as it goes on the wire (the same text encodeValue gives). */
function indexItemText(name: string, user: UserStore, e: IndexEntry, flags: string[]): string {
  switch (name) {
    case 'UID':
      return `UID ${e.uid}`;
    case 'FLAGS':
      return `FLAGS (${flags.join(' ')})`;
    case 'INTERNALDATE':
      return `INTERNALDATE "${formatDateTime(e.internalDate)}"`;
    case 'RFC822.SIZE':
      return `RFC822.SIZE ${e.size}`;
    case 'MODSEQ':
      return `MODSEQ (${e.modseq})`;
    case 'SAVEDATE':
      return `SAVEDATE "${formatDateTime(e.saveDate)}"`;
    case 'EMAILID':
      return `EMAILID (${user.emailId(e)})`;
    default:
      return 'THREADID NIL';
  }
}

/**
 * The FETCH response of `e` when every item is an index item: built as one string, without a
 * promise or a value tree per message (FETCH 1:* (FLAGS) on a large mailbox).
 */
function indexResponse(
  user: UserStore,
  seq: number,
  e: IndexEntry,
  items: FetchItem[],
  flags: string[],
  withModseq: boolean,
): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const it of items) {
    if (it.kind !== 'simple' || seen.has(it.name)) continue;
    seen.add(it.name);
    parts.push(indexItemText(it.name, user, e, flags));
  }
  if (withModseq && !seen.has('MODSEQ')) parts.push(`MODSEQ (${e.modseq})`);
  return `* ${seq} FETCH (${parts.join(' ')})\r\n`;
}

async function buildResponse(
  user: UserStore,
  seq: number,
  e: IndexEntry,
  items: FetchItem[],
  flags: string[],
  withModseq: boolean,
  threshold: number,
): Promise<Chunk[]> {
  const meta = needsMeta(items) ? await user.messageMeta(e) : undefined;
  const { vals, add } = collector();
  for (const it of items) {
    switch (it.kind) {
      case 'simple':
        if (indexItem(it.name, user, e, flags, add)) break;
        switch (it.name) {
          case 'ENVELOPE':
            add('ENVELOPE', envelopeValue(meta!.envelope));
            break;
          case 'BODY':
            add('BODY', bodyStructureValue(meta!.root, false));
            break;
          case 'BODYSTRUCTURE':
            add('BODYSTRUCTURE', bodyStructureValue(meta!.root, true));
            break;
          case 'PREVIEW':
            add('PREVIEW', await previewText(user, e, meta!));
            break; // RFC 8970
        }
        break;
      case 'rfc822': {
        const m = meta!;
        const [s, en] =
          it.name === 'RFC822'
            ? [0, m.size]
            : it.name === 'RFC822.HEADER'
              ? [0, m.root.bodyStart]
              : [m.root.bodyStart, m.size];
        add(it.name, await lazyOrRead(user, e, s, en, threshold));
        break;
      }
      case 'body': {
        const [label, val] = (await bodySection(user, e, meta!, it, threshold)) as [Value, Value];
        add((label as { atom: string }).atom, val);
        break;
      }
      case 'binary': {
        // a part that does not exist is empty, as for BODY[n]; a multipart or an encapsulated
        // message is sent as it is (its encoding is 7bit, 8bit or binary), as Dovecot does
        const part = findPart(meta!.root, it.path);
        const start = !part ? 0 : it.path.length ? part.bodyStart : 0;
        const end = part ? part.bodyEnd : 0;
        const raw = end > start ? await user.messageBytes(e, start, end - start) : Buffer.alloc(0);
        const decoded = part && it.path.length && !part.children ? decodeForFetch(raw, part.encoding) : raw;
        if (it.size) add(it.label, decoded.length);
        else {
          const data = partial(decoded, it.partial);
          add(it.partial ? `${it.label}<${it.partial[0]}>` : it.label, { literal: data, binary: data.includes(0) });
        }
        break;
      }
    }
  }
  if (withModseq) add('MODSEQ', [e.modseq]);
  return [`* ${seq} FETCH `, ...encodeValue(vals), '\r\n'];
}

/** FETCH modifiers (RFC 7162 §3.1.4, §3.2.6): (CHANGEDSINCE n [VANISHED]). Throws BAD. */
function fetchModifiers(
  t: Token | undefined,
  uid: boolean,
  qresync: boolean,
): { changedSince?: number; vanished: boolean } {
  if (!t) return { vanished: false };
  if (t.type !== 'list') throw bad('Invalid FETCH modifiers');
  let changedSince: number | undefined;
  let vanished = false;
  for (let i = 0; i < t.value.length; i++) {
    const m = t.value[i];
    const name = m.type === 'atom' ? m.value.toUpperCase() : '';
    if (name === 'CHANGEDSINCE') {
      const n = t.value[++i];
      if (!n || n.type !== 'atom' || !/^\d{1,19}$/.test(n.value)) throw bad('CHANGEDSINCE needs a mod-sequence');
      changedSince = Number(n.value);
    } else if (name === 'VANISHED') vanished = true;
    else throw bad('Unknown FETCH modifier');
  }
  if (vanished && (!uid || !qresync || changedSince === undefined))
    throw bad('VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE');
  return { changedSince, vanished };
}

export const fetch: CommandSpec = {
  name: 'FETCH',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run({ session, user, view: v, tag, args, uid }) {
    if (args.length < 2 || args.length > 3) throw bad('FETCH needs a sequence set, items and optional modifiers');
    const items = parseFetchItems(args[1]);
    if (uid && !items.some((i) => i.kind === 'simple' && i.name === 'UID'))
      items.unshift({ kind: 'simple', name: 'UID' });
    const set = parseSeqSet(asText(args[0], 'sequence set'));
    const { changedSince, vanished } = fetchModifiers(args[2], uid, session.enabled.has('QRESYNC'));
    if (changedSince !== undefined || items.some((i) => i.kind === 'simple' && i.name === 'MODSEQ'))
      session.enableCondstore();
    let targets = v.resolve(set, uid);
    if (changedSince !== undefined) {
      targets = targets.filter(([, u]) => v.entries.get(u)!.modseq > changedSince);
      if (!items.some((i) => i.kind === 'simple' && i.name === 'MODSEQ'))
        items.push({ kind: 'simple', name: 'MODSEQ' });
    }
    if (vanished) {
      // UIDs in the set expunged since CHANGEDSINCE (RFC 7162 §3.2.6), from the change log; when
      // the log was trimmed past it, every UID of the set that is gone (§3.2.5.2)
      const { log, complete } = await v.mailbox.changesSince(changedSince!);
      let vanished: string;
      if (complete) {
        const gone = log.filter((l) => l.kind === 'expunge').flatMap((l) => l.uids);
        const max = gone.reduce((m, u) => Math.max(m, u), v.uidnext - 1);
        const inRange = [...new Set(gone)].filter(
          (u) => ('ranges' in set ? inSet(set, u, max) : v.saved.includes(u)) && !v.entries.has(u),
        );
        vanished = toSeqString(inRange);
      } else {
        const within = 'ranges' in set ? set.ranges : v.saved.map((u): [number, number] => [u, u]);
        vanished = rangesString(absentRanges(v.uids, v.uidnext - 1, within));
      }
      if (vanished) session.write(`* VANISHED (EARLIER) ${vanished}\r\n`);
    }
    if (setsSeen(items) && !v.readOnly) {
      const unseen = targets.filter(([, u]) => !v.entries.get(u)!.flags.includes('\\Seen')).map(([, u]) => u);
      if (unseen.length) {
        const r = await v.mailbox.store(unseen, 'add', ['\\Seen']);
        for (const e of r.changed) v.update(e);
        if (!items.some((i) => i.kind === 'simple' && i.name === 'FLAGS'))
          items.push({ kind: 'simple', name: 'FLAGS' });
      }
    }
    // a keyword this session has not been told of (set by another session, come back with the
    // \Seen commit above) is announced before the FETCH responses that show it (RFC 3501 §7.2.6)
    if (items.some((i) => i.kind === 'simple' && i.name === 'FLAGS')) {
      session.write(v.announceKeywords(targets.map(([, u]) => v.entries.get(u)?.flags ?? [])).map((l) => `${l}\r\n`));
    }
    const withModseq = session.enabled.has('CONDSTORE');
    // fetch metadata for many messages concurrently, write in order
    // message bodies are held per batch: small batches when items fetch them, large otherwise
    const batch = items.some((i) => i.kind !== 'simple') ? 32 : 512;
    if (items.every((i) => i.kind === 'simple' && INDEX_ITEMS.has(i.name))) {
      // index items only: rendered synchronously, written in batches of 512 responses
      for (let i = 0; i < targets.length; i += 512) {
        const out: string[] = [];
        for (const [seq, u] of targets.slice(i, i + 512)) {
          const e = v.entries.get(u)!;
          out.push(indexResponse(user, seq, e, items, v.flagsOf(e), withModseq));
        }
        session.write(out.join(''));
        await session.writable();
      }
      await session.ok(tag, 'Fetch completed.');
      return;
    }
    for (let i = 0; i < targets.length; i += batch) {
      const slice = targets.slice(i, i + batch);
      const rendered = await Promise.all(
        slice.map(([seq, u]) => {
          const e = v.entries.get(u)!;
          return buildResponse(user, seq, e, items, v.flagsOf(e), withModseq, session.env.limits.streamLiteralBytes);
        }),
      );
      const chunks = rendered.flat();
      // one socket write per batch unless a large body has to be streamed
      if (chunks.every((c) => typeof c === 'string' || Buffer.isBuffer(c)))
        session.write(chunks as (string | Buffer)[]);
      else for (const r of rendered) await session.send(r);
    }
    await session.ok(tag, 'Fetch completed.');
  },
};
