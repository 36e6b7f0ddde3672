/**
 * SORT and THREAD algorithms (RFC 5256) and SORT=DISPLAY (RFC 5957), over plain descriptors of
 * messages; pure. Strings compare with the i;unicode-casemap collation (RFC 5051): simple
 * titlecase, then NFKD, then by code point.
 */

/** What SORT and THREAD need of a message. */
export interface SortMessage {
  seq: number;
  uid: number;
  /** INTERNALDATE, ms since epoch. */
  arrival: number;
  /** Date header, ms since epoch (null: missing or unparseable; the arrival date is used). */
  sent: number | null;
  size: number;
  /** Subject, RFC 2047-decoded. */
  subject: string;
  /** First From/To/Cc address: its mailbox (local part) and display name (decoded), if any. */
  from: AddressKey | null;
  to: AddressKey | null;
  cc: AddressKey | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string;
}

/** The parts of an address SORT looks at. */
export interface AddressKey {
  mailbox: string;
  host: string;
  name: string | null;
}

/** One SORT criterion (RFC 5256 §3, RFC 5957 §3). */
export interface SortCriterion {
  key: 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
  reverse: boolean;
}

/** i;unicode-casemap (RFC 5051 §2): the comparison key of a string. */
export function casemap(s: string): string {
  // simple titlecase: upper case except for the few characters whose titlecase differs
  let out = '';
  for (const ch of s) {
    const t = TITLE[ch];
    out += t ?? (ch.toUpperCase().length === 1 ? ch.toUpperCase() : ch);
  }
  return out.normalize('NFKD');
}

const TITLE: Record<string, string> = { ǆ: 'ǅ', Ǆ: 'ǅ', ǉ: 'ǈ', Ǉ: 'ǈ', ǌ: 'ǋ', Ǌ: 'ǋ', ǳ: 'ǲ', Ǳ: 'ǲ' };

function cmpStr(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}

/**
 * The base subject (RFC 5256 §2.1): RFC 2047-decoded input, "Re:", "Fw:", "Fwd:", "[blob]"
 * prefixes, "(fwd)" trailers and "[fwd: ...]" wrappers removed, white space collapsed.
 */
export function baseSubject(subject: string): string {
  let s = subject.replace(/[\t\r\n]+/g, ' ').replace(/ {2,}/g, ' ');
  for (;;) {
    // (2) trailing "(fwd)" and white space
    for (;;) {
      const t = s.replace(/\s+$/, '').replace(/\(fwd\)$/i, '');
      if (t === s) break;
      s = t;
    }
    // (3)-(5): leaders and blobs, until nothing changes
    for (;;) {
      const before = s;
      // subj-leader = (*subj-blob subj-refwd) / WSP
      const lead = /^(?:(?:\[[^[\]]*\]\s*)*(?:re|fwd?)\s*(?:\[[^[\]]*\]\s*)?:|\s+)/i.exec(s);
      if (lead) s = s.slice(lead[0].length);
      const blob = /^\[[^[\]]*\]\s*/.exec(s);
      if (blob && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === before) break;
    }
    // (6) "[fwd: ...]"
    const fwd = /^\[fwd:(.*)\]$/i.exec(s);
    if (!fwd) break;
    s = fwd[1];
  }
  return s;
}

function sentDate(m: SortMessage): number {
  return m.sent ?? m.arrival;
}

function display(a: AddressKey | null): string {
  if (!a) return '';
  if (a.name && a.name.trim()) return a.name;
  return a.host ? `${a.mailbox}@${a.host}` : a.mailbox;
}

/** Sort messages by criteria (ties: sequence number, RFC 5256 §3). */
export function sortMessages(msgs: SortMessage[], criteria: SortCriterion[]): SortMessage[] {
  const keyOf = (m: SortMessage, c: SortCriterion): number | string => {
    switch (c.key) {
      case 'ARRIVAL':
        return m.arrival;
      case 'DATE':
        return sentDate(m);
      case 'SIZE':
        return m.size;
      case 'SUBJECT':
        return casemap(baseSubject(m.subject));
      case 'FROM':
        return casemap(m.from?.mailbox ?? '');
      case 'TO':
        return casemap(m.to?.mailbox ?? '');
      case 'CC':
        return casemap(m.cc?.mailbox ?? '');
      case 'DISPLAYFROM':
        return casemap(display(m.from));
      case 'DISPLAYTO':
        return casemap(display(m.to));
    }
  };
  const keys = new Map(msgs.map((m) => [m, criteria.map((c) => keyOf(m, c))]));
  return [...msgs].sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    for (let i = 0; i < criteria.length; i++) {
      const x = ka[i];
      const y = kb[i];
      const d = typeof x === 'number' ? x - (y as number) : cmpStr(x, y as string);
      if (d) return criteria[i].reverse ? -d : d;
    }
    return a.seq - b.seq;
  });
}

/** A thread tree: a message (or null for a missing parent) and its children. */
export interface ThreadNode {
  msg: SortMessage | null;
  children: ThreadNode[];
}

/** Render threads as in the THREAD response (RFC 5256 §4), with `num` per message. */
export function renderThreads(roots: ThreadNode[], num: (m: SortMessage) => number): string {
  const chain = (n: ThreadNode): string => {
    // a node followed by its only child is written as a flat list; several children each get ( )
    // thread-members are numbers separated by spaces; thread-nested lists follow without spaces
    // between them (RFC 5256 §4: thread-nested = 2*thread-list)
    const nums: string[] = [];
    let cur: ThreadNode = n;
    for (;;) {
      if (cur.msg) nums.push(String(num(cur.msg)));
      if (cur.children.length !== 1) break;
      cur = cur.children[0];
    }
    const nested = cur.children.map((c) => `(${chain(c)})`).join('');
    return nums.length && nested ? `${nums.join(' ')} ${nested}` : nums.join(' ') + nested;
  };
  return roots.map((r) => `(${chain(r)})`).join('');
}

const byDate = (a: SortMessage, b: SortMessage) => sentDate(a) - sentDate(b) || a.seq - b.seq;

/** THREAD=ORDEREDSUBJECT (RFC 5256 §3). */
export function threadOrderedSubject(msgs: SortMessage[]): ThreadNode[] {
  const groups = new Map<string, SortMessage[]>();
  for (const m of [...msgs].sort(byDate)) {
    const k = casemap(baseSubject(m.subject));
    const g = groups.get(k);
    if (g) g.push(m);
    else groups.set(k, [m]);
  }
  const roots = [...groups.values()].map((g) => ({
    msg: g[0],
    children: g.slice(1).map((m) => ({ msg: m, children: [] })),
  }));
  return roots.sort((a, b) => byDate(a.msg, b.msg));
}

/**
 * A msg-id (RFC 5322 §3.6.4): "<" id-left "@" id-right ">"; anything else (e.g. "<yes>") is ignored, as Dovecot does.
 */
const MSGID = /<[^<>@\s]+@[^<>@\s]+>/g;

interface Container {
  id: string;
  msg: SortMessage | null;
  parent: Container | null;
  children: Container[];
}

/** THREAD=REFERENCES (RFC 5256 §3, the algorithm of jwz). */
export function threadReferences(msgs: SortMessage[]): ThreadNode[] {
  const ids = { next: 0 };
  // (1) the containers, linked by the references; (2) the root set
  const table = linkByReferences(msgs, ids);
  const roots = pruneDummies(
    [...table.values()].filter((c) => !c.parent),
    true,
  );
  for (const r of roots) r.parent = null;
  // (4) sort each level by sent date
  sortThreadLevel(roots);
  // (5) group roots by base subject, (6) sort again, every level
  const merged = mergeBySubject(roots, ids);
  sortThreadLevel(merged);
  const toNode = (c: Container): ThreadNode => ({ msg: c.msg, children: c.children.map(toNode) });
  return merged.map(toNode);
}

/** Whether `a` is `b` or one of its ancestors. */
function isAncestor(a: Container, b: Container): boolean {
  for (let x: Container | null = b; x; x = x.parent) if (x === a) return true;
  return false;
}

/** Make `child` a child of `parent`, unless it already is or that would make a loop. */
function link(parent: Container, child: Container): void {
  if (child.parent === parent || isAncestor(child, parent)) return;
  if (child.parent) child.parent.children = child.parent.children.filter((c) => c !== child);
  child.parent = parent;
  parent.children.push(child);
}

/**
 * RFC 5256 §2.2 step 1: a container per message-id, linked as the References (or the first
 * In-Reply-To id) say; `ids` numbers the made-up ids of messages without a usable Message-ID.
 */
function linkByReferences(msgs: SortMessage[], ids: { next: number }): Map<string, Container> {
  const table = new Map<string, Container>();
  const get = (id: string) => {
    let c = table.get(id);
    if (!c) {
      c = { id, msg: null, parent: null, children: [] };
      table.set(id, c);
    }
    return c;
  };
  for (const m of [...msgs].sort((a, b) => a.seq - b.seq)) {
    // (1A) a message without Message-ID, or with one already used, gets a unique one
    let id = m.messageId?.match(MSGID)?.[0]?.toLowerCase() ?? '';
    if (!id || table.get(id)?.msg) id = `<dummy.${++ids.next}@rmb>`;
    const c = get(id);
    c.msg = m;
    // (1B) the references (or the first In-Reply-To id) link up in order
    let refs = (m.references.match(MSGID) ?? []).map((r) => r.toLowerCase());
    if (!refs.length) refs = (m.inReplyTo?.match(MSGID) ?? []).slice(0, 1).map((r) => r.toLowerCase());
    let prev: Container | null = null;
    for (const r of refs) {
      const rc = get(r);
      if (prev && !rc.parent) link(prev, rc);
      prev = rc;
    }
    // (1C) the last reference is the parent: any older link of this message goes, and the new one
    // is made unless it would make a loop (then the message has no parent: RFC 5256 §2.2 step 1C)
    if (c.parent) {
      c.parent.children = c.parent.children.filter((x) => x !== c);
      c.parent = null;
    }
    if (prev && prev !== c && !isAncestor(c, prev)) link(prev, c);
  }
  return table;
}

/** Step 3: drop empty dummies; a dummy's children take its place (at the root only when it has one). */
function pruneDummies(list: Container[], isRoot: boolean): Container[] {
  const out: Container[] = [];
  for (const c of list) {
    c.children = pruneDummies(c.children, false);
    if (!c.msg && !c.children.length) continue;
    if (!c.msg && (!isRoot || c.children.length === 1)) {
      for (const k of c.children) k.parent = c.parent;
      out.push(...c.children);
      continue;
    }
    out.push(c);
  }
  return out;
}

/** Sent date of a container; a dummy's is that of its first child. */
const threadDate = (c: Container): number =>
  c.msg ? sentDate(c.msg) : c.children.length ? threadDate(c.children[0]) : 0;
/** Sequence number of a container; a dummy's is that of its first child. */
const threadSeq = (c: Container): number => (c.msg ? c.msg.seq : c.children.length ? threadSeq(c.children[0]) : 0);

/** Steps 4 and 6: sort every level by sent date, then sequence number. */
function sortThreadLevel(list: Container[]): void {
  for (const c of list) sortThreadLevel(c.children);
  list.sort((a, b) => threadDate(a) - threadDate(b) || threadSeq(a) - threadSeq(b));
}

/** The base subject of a thread root and whether its subject was a reply or forward. */
function rootSubject(c: Container): { s: string; reply: boolean } {
  const m = c.msg ?? c.children[0]?.msg ?? null;
  const raw = m?.subject ?? '';
  const s = casemap(baseSubject(raw));
  const plain = raw
    .replace(/[\t\r\n]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return { s, reply: s !== casemap(plain) };
}

/** Step 5: roots with the same base subject become one thread (RFC 5256 §2.2 step 5). */
function mergeBySubject(roots: Container[], ids: { next: number }): Container[] {
  const bySubject = new Map<string, Container>();
  for (const r of roots) {
    const { s } = rootSubject(r);
    if (!s) continue;
    const old = bySubject.get(s);
    if (!old || (old.msg && !r.msg) || (old.msg && r.msg && rootSubject(old).reply && !rootSubject(r).reply))
      bySubject.set(s, r);
  }
  const merged: Container[] = [];
  const adopt = (parent: Container, kids: Container[]) => {
    for (const k of kids) {
      k.parent = parent;
      parent.children.push(k);
    }
  };
  for (const r of roots) {
    const { s, reply } = rootSubject(r);
    const t = (s && bySubject.get(s)) || r;
    if (t === r) {
      merged.push(r);
      continue;
    }
    // two dummies, or a dummy representative and a message, or a reply to a non-reply: r joins t;
    // a dummy r gives t its children (t stays the representative)
    if (!r.msg) adopt(t, r.children);
    else if (!t.msg || (reply && !rootSubject(t).reply)) adopt(t, [r]);
    else {
      // neither is a reply of the other: both become children of a new dummy
      const d: Container = { id: `<merge.${++ids.next}@rmb>`, msg: null, parent: null, children: [] };
      const at = merged.indexOf(t);
      adopt(d, [t, r]);
      if (at >= 0) merged[at] = d;
      bySubject.set(s, d);
    }
  }
  return merged;
}
