/**
 * SEARCH and UID SEARCH (RFC 3501 §6.4.4). Flags, sizes, dates and UIDs are matched from the
 * index; address and subject keys from the stored SEARCH fields; other headers from a ranged
 * read of the header; BODY and TEXT decode the text parts (transfer encoding and charset).
 * Strings match case-insensitively as substrings.
 */
import {
  decodeWords,
  type IndexEntry,
  type MimePart,
  parseHeaderFields,
  type StoredMeta,
  type UserStore,
} from '@rmb/librmb';
import type { CommandSpec } from '../context.js';
import { inSet, toSeqString } from '../../protocol/sequence.js';
import { parseSearch, type SearchKey, usesKey } from '../../protocol/search.js';
import { str } from '../../protocol/encode.js';
import { bad } from '../errors.js';
import type { SelectedView } from '../selected.js';
import { decodeText } from './binary.js';

const DAY = 86400000;

/** Lazily loaded facts about one message during a search. */
class Candidate {
  private metaP?: Promise<StoredMeta>;
  private dataP?: Promise<Buffer>;
  constructor(
    readonly user: UserStore,
    readonly seq: number,
    readonly e: IndexEntry,
  ) {}
  meta(): Promise<StoredMeta> {
    return (this.metaP ??= this.user.messageMeta(this.e));
  }
  data(): Promise<Buffer> {
    return (this.dataP ??= this.user.messageBytes(this.e));
  }
  private textP?: Promise<string>;
  /** The decoded, lower-cased body text (bodyText), computed once however many keys search it. */
  foldedText(): Promise<string> {
    return (this.textP ??= bodyText(this).then(fold));
  }
}

const fold = (s: string) => s.toLowerCase();

/**
 * The parts whose bodies BODY and TEXT search: text (and undecoded message) leaves, inside encapsulated messages too.
 */
function textParts(p: MimePart, out: MimePart[] = []): MimePart[] {
  if (p.children) for (const c of p.children) textParts(c, out);
  else if (p.message) textParts(p.message.root, out);
  else if (p.type === 'text' || p.type === 'message') out.push(p);
  return out;
}

/** Every part with a header block of its own: the message, each body part, each encapsulated message. */
function headerParts(p: MimePart, out: MimePart[] = []): MimePart[] {
  out.push(p);
  for (const c of p.children ?? []) headerParts(c, out);
  if (p.message) headerParts(p.message.root, out);
  return out;
}

async function bodyText(c: Candidate): Promise<string> {
  const meta = await c.meta();
  const data = await c.data();
  return textParts(meta.root)
    .map((p) => decodeText(data.subarray(p.bodyStart, p.bodyEnd), p))
    .join('\n');
}

async function headerValues(c: Candidate, field: string): Promise<string[] | null> {
  const meta = await c.meta();
  const s = meta.search;
  const quick: Record<string, string> = { from: s.from, to: s.to, cc: s.cc, bcc: s.bcc, subject: s.subject };
  if (field in quick) {
    const raw = field === 'subject' ? meta.envelope.subject : null;
    const vals = quick[field] || raw ? [quick[field]] : [];
    // an address field also matches its addresses as parsed: comments gone, white space folded
    // ("<user (comment)@ (comment) domain.org>" is user@domain.org), as ENVELOPE shows them
    const list = field === 'subject' ? null : meta.envelope[field as 'from' | 'to' | 'cc' | 'bcc'];
    for (const a of list ?? []) {
      if (a.host !== null) vals.push(`${a.name ? `${decodeWords(a.name)} ` : ''}<${a.mailbox ?? ''}@${a.host}>`);
    }
    return vals;
  }
  const header = (await c.data()).subarray(0, meta.root.bodyStart);
  return parseHeaderFields(header)
    .filter((f) => f.name.toLowerCase() === field)
    .map((f) => decodeWords(f.value));
}

function dayOf(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

/**
 * Whether `k` is answered from index entries alone (flags, UIDs, sizes, dates kept in the index):
 * such a search runs without reading any mail object and without a promise per message.
 */
function indexOnly(k: SearchKey): boolean {
  switch (k.k) {
    case 'header':
    case 'body':
    case 'text':
      return false;
    case 'date':
      return k.which !== 'sent';
    case 'not':
      return indexOnly(k.key);
    case 'or':
      return indexOnly(k.a) && indexOnly(k.b);
    case 'and':
      return k.keys.every(indexOnly);
    default:
      return true;
  }
}

/** `k` (indexOnly) against entry `e` with sequence number `seq`. */
function matchesIndex(k: SearchKey, e: IndexEntry, seq: number, v: SelectedView): boolean {
  switch (k.k) {
    case 'all':
      return true;
    case 'flag':
      return e.flags.some((f) => f.toLowerCase() === k.flag.toLowerCase()) === k.set;
    case 'recent':
      return v.isRecent(e.uid);
    case 'new':
      return v.isRecent(e.uid) && !e.flags.includes('\\Seen');
    case 'old':
      return !v.isRecent(e.uid);
    case 'size':
      return k.op === 'larger' ? e.size > k.n : e.size < k.n;
    case 'seq':
      return inSet(k.set as { ranges: [number, number][] }, seq, v.exists);
    case 'uid': {
      if ('saved' in k.set) return v.saved.includes(e.uid);
      const max = v.uids.length ? v.uids[v.uids.length - 1] : 0;
      return inSet(k.set, e.uid, max);
    }
    case 'modseq':
      return e.modseq >= k.n;
    case 'age': {
      // whole seconds; YOUNGER is "within" the interval, inclusive (RFC 5032 §3)
      const age = Math.floor(Date.now() / 1000) - Math.floor(e.internalDate / 1000);
      return k.op === 'older' ? age >= k.seconds : age <= k.seconds;
    }
    case 'date': {
      const d = dayOf(k.which === 'saved' ? e.saveDate : e.internalDate);
      return k.op === 'before' ? d < k.day : k.op === 'on' ? d === k.day : d >= k.day;
    }
    case 'not':
      return !matchesIndex(k.key, e, seq, v);
    case 'or':
      return matchesIndex(k.a, e, seq, v) || matchesIndex(k.b, e, seq, v);
    case 'and':
      return k.keys.every((x) => matchesIndex(x, e, seq, v));
    default:
      throw new Error(`search key ${k.k} needs the message`);
  }
}

async function matches(k: SearchKey, c: Candidate, v: SelectedView): Promise<boolean> {
  if (indexOnly(k)) return matchesIndex(k, c.e, c.seq, v);
  switch (k.k) {
    case 'date': {
      // SENT: the Date header's day as written; without a usable one the message counts as sent
      // at the epoch (Dovecot does the same: it is then "before" every date)
      const s = (await c.meta()).search;
      const d = s.dateDay ?? (s.date !== null ? dayOf(s.date) : 0);
      return k.op === 'before' ? d < k.day : k.op === 'on' ? d === k.day : d >= k.day;
    }
    case 'header': {
      const vals = await headerValues(c, k.field);
      if (vals === null || !vals.length) return false;
      const needle = fold(k.value);
      return vals.some((x) => fold(x).includes(needle));
    }
    case 'body':
      return (await c.foldedText()).includes(fold(k.value));
    case 'text': {
      // TEXT is header or body (RFC 3501 §6.4.4): the body's own header blocks (MIME headers of the
      // parts, headers of encapsulated messages) are searched as headers, as Dovecot does
      const meta = await c.meta();
      const data = await c.data();
      const needle = fold(k.value);
      for (const p of headerParts(meta.root)) {
        const fields = parseHeaderFields(data.subarray(p.headerStart, p.bodyStart));
        if (fold(fields.map((f) => `${f.name}: ${decodeWords(f.value)}`).join('\n')).includes(needle)) return true;
      }
      return (await c.foldedText()).includes(needle);
    }
    case 'not':
      return !(await matches(k.key, c, v));
    case 'or':
      return (await matches(k.a, c, v)) || (await matches(k.b, c, v));
    case 'and':
      for (const x of k.keys) if (!(await matches(x, c, v))) return false;
      return true;
    default:
      return matchesIndex(k, c.e, c.seq, v);
  }
}

/** Run a search over the selected mailbox; returns matching [seq, uid] pairs. */
export async function runSearch(key: SearchKey, user: UserStore, v: SelectedView): Promise<[number, number][]> {
  const out: [number, number][] = [];
  if (indexOnly(key)) {
    // flags, UIDs, sizes and dates: one synchronous pass over the index entries
    v.uids.forEach((u, i) => {
      if (matchesIndex(key, v.entries.get(u)!, i + 1, v)) out.push([i + 1, u]);
    });
    return out;
  }
  const pairs = v.uids.map((u, i): [number, number] => [i + 1, u]);
  const batch = 32;
  for (let i = 0; i < pairs.length; i += batch) {
    const slice = pairs.slice(i, i + batch);
    const res = await Promise.all(
      slice.map(([seq, u]) => matches(key, new Candidate(user, seq, v.entries.get(u)!), v)),
    );
    res.forEach((ok, j) => {
      if (ok) out.push(slice[j]);
    });
  }
  return out;
}

const RETURN_OPTS = new Set(['MIN', 'MAX', 'COUNT', 'ALL', 'SAVE']);

/**
 * SEARCH RETURN (...): the ESEARCH response (RFC 4731 §3.1; RETURN () means ALL) and SAVE into
 * `$` (SEARCHRES, RFC 5182 §2.1: with only MIN and/or MAX, just those messages are saved; with
 * SAVE alone no ESEARCH response is sent). Returns the response lines. Throws BAD.
 */
function esearch(
  tag: string,
  uid: boolean,
  opts: string[],
  found: [number, number][],
  nums: number[],
  v: SelectedView,
  modseq: number,
): string {
  for (const o of opts) if (!RETURN_OPTS.has(o)) throw bad(`Unknown RETURN option ${o.slice(0, 20)}`);
  const want = opts.length ? opts : ['ALL'];
  if (want.includes('SAVE')) {
    const onlyEnds = !want.includes('ALL') && !want.includes('COUNT') && (want.includes('MIN') || want.includes('MAX'));
    const uids = found.map(([, u]) => u);
    v.saved =
      onlyEnds && uids.length
        ? [
            ...new Set([
              ...(want.includes('MIN') ? [uids[0]] : []),
              ...(want.includes('MAX') ? [uids[uids.length - 1]] : []),
            ]),
          ]
        : uids;
    if (want.length === 1) return '';
  }
  let out = `* ESEARCH (TAG ${str(tag)})${uid ? ' UID' : ''}`;
  if (want.includes('MIN') && nums.length) out += ` MIN ${nums[0]}`;
  if (want.includes('MAX') && nums.length) out += ` MAX ${nums[nums.length - 1]}`;
  if (want.includes('COUNT')) out += ` COUNT ${nums.length}`;
  if (want.includes('ALL') && nums.length) out += ` ALL ${toSeqString(nums)}`;
  if (modseq && nums.length) out += ` MODSEQ ${modseq}`;
  return `${out}\r\n`;
}

export const search: CommandSpec = {
  name: 'SEARCH',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run({ session, user, view: v, tag, args, uid }) {
    const prog = parseSearch(args, session.env.limits.maxNestingDepth);
    const found = await runSearch(prog.key, user, v);
    const nums = found.map(([seq, u]) => (uid ? u : seq));
    // a search with MODSEQ reports the highest mod-sequence of the matches (RFC 7162 §3.1.5)
    const hasModseq = usesKey(prog.key, 'modseq');
    // a loop, not Math.max(...): a spread of a million arguments overflows the stack
    const top = found.reduce((m, [, u]) => Math.max(m, v.entries.get(u)!.modseq), 0);
    if (hasModseq) session.enableCondstore();
    // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 §6.4.4: no RETURN means ALL)
    if (prog.returnOpts || session.enabled.has('IMAP4REV2')) {
      session.write(esearch(tag, uid, prog.returnOpts ?? [], found, nums, v, hasModseq ? top : 0));
    } else {
      session.write(
        `* SEARCH${nums.length ? ' ' + nums.join(' ') : ''}${hasModseq && nums.length ? ` (MODSEQ ${top})` : ''}\r\n`,
      );
    }
    await session.ok(tag, 'Search completed.');
  },
};
