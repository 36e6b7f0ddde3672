/**
 * Parser of imaptest's script format (https://imapwiki.org/ImapTest/ScriptedTests), the subset
 * rmb's scripts use; see imaptest/README.md for the exact rules, including rmb's additions
 * (`reference-differs:` headers and the literal rule).
 */

/** The state a script starts in (imaptest's `state:` header). */
export type StartState = 'nonauth' | 'auth' | 'created' | 'appended' | 'selected';

/**
 * One part of a command: a line of text, then a literal's data, or (`cont`) a line sent only
 * after the server's "+" continuation request (SASL exchanges, IDLE's DONE).
 */
export interface Part {
  text: string;
  literal?: { data: string; sync: boolean; unsendable?: boolean };
  cont?: boolean;
}

/** Literals above this many bytes are never sent (refusal tests). */
export const UNSENDABLE_LITERAL = 100 * 1024 * 1024;

/** An untagged expectation: `*` must appear, `!` must not, `?` may. */
export interface Expect {
  kind: '*' | '!' | '?';
  text: string;
  line: number;
}

/** A command and what its tagged reply must look like. */
export interface Command {
  conn: number;
  /** The script's explicit tag ("tag1 status ..."), or null for an automatic one. */
  tag: string | null;
  parts: Part[];
  /** Expected status; '' accepts any. Undefined until the result line is read (way 2). */
  status?: 'ok' | 'no' | 'bad' | '';
  /** Expected start of the reply text after the status (e.g. "[READ-WRITE]"). */
  prefix?: string;
  expects: Expect[];
  line: number;
}

/** A step: send a command (and, for way 1, wait for it), or wait for a pipelined command's result. */
export type Step = { kind: 'send'; cmd: Command; wait: boolean } | { kind: 'result'; cmd: Command };

/** A parsed script. */
export interface Script {
  name: string;
  capabilities: string[];
  connections: number;
  state: StartState;
  /** How many messages of the mbox to append (states appended/selected); Infinity = all. */
  messages: number;
  ignoreExtraUntagged: boolean;
  /** Why the reference server (Dovecot) may fail this script: an RFC section and an explanation. */
  referenceDiffers: string[];
  steps: Step[];
}

/** Thrown for a malformed script, with its line number. */
export class ScriptError extends Error {}

const STATES = new Set(['nonauth', 'auth', 'created', 'appended', 'selected']);
const LITERAL_AT_END = /(~?)\{(\d+)(\+?)\}$/;

/** Parse a script's text. Throws ScriptError. */
export function parseScript(name: string, text: string): Script {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const s: Script = {
    name,
    capabilities: [],
    connections: 1,
    state: 'selected',
    messages: Infinity,
    ignoreExtraUntagged: true,
    referenceDiffers: [],
    steps: [],
  };
  let i = 0;
  for (; i < lines.length && lines[i].trim() !== ''; i++) {
    const line = lines[i];
    if (line.startsWith('#')) continue;
    const m = /^([a-z_-]+):\s*(.*)$/i.exec(line);
    if (!m) throw new ScriptError(`${name}:${i + 1}: header line expected`);
    const [, key, value] = m;
    switch (key.toLowerCase()) {
      case 'capabilities':
        s.capabilities = value.split(/\s+/).filter(Boolean);
        break;
      case 'connections':
        s.connections = Number(value);
        break;
      case 'state':
        if (!STATES.has(value)) throw new ScriptError(`${name}:${i + 1}: unknown state ${value}`);
        s.state = value as StartState;
        break;
      case 'messages':
        s.messages = value === 'all' ? Infinity : Number(value);
        break;
      case 'ignore_extra_untagged':
        s.ignoreExtraUntagged = /^(yes|1|true)$/i.test(value);
        break;
      case 'reference-differs':
        s.referenceDiffers.push(value);
        break;
      default:
        throw new ScriptError(`${name}:${i + 1}: unknown header ${key}`);
    }
  }
  if (!(s.connections >= 1)) throw new ScriptError(`${name}: bad connections`);
  const pending = new Map<number, Command>(); // way-2 command awaiting its result line, per connection
  const tagged = new Map<string, Command>();
  let last: Command | null = null;
  const multi = s.connections > 1;
  for (i++; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    let conn = 1;
    let line = raw;
    const cm = /^(\d+) (.*)$/.exec(raw);
    if (multi && cm) {
      conn = Number(cm[1]);
      line = cm[2];
    }
    if (conn > s.connections) throw new ScriptError(`${name}:${i + 1}: connection ${conn} > ${s.connections}`);
    const where = `${name}:${i + 1}`;
    const ex = /^([*!?]) (.*)$/.exec(line);
    if (ex) {
      if (!last) throw new ScriptError(`${where}: untagged reply before any command`);
      last.expects.push({ kind: ex[1] as Expect['kind'], text: ex[2], line: i + 1 });
      continue;
    }
    // rmb's addition: "+ text" sends text after the server's next continuation request
    const co = /^\+(?: (.*))?$/.exec(line);
    if (co) {
      if (!last) throw new ScriptError(`${where}: continuation before any command`);
      last.parts.push({ text: co[1] ?? '', cont: true });
      continue;
    }
    const tr = /^(tag\w*) (ok|no|bad)(?: (.*))?$/i.exec(line);
    if (tr && tagged.has(tr[1].toLowerCase())) {
      const c = tagged.get(tr[1].toLowerCase())!;
      tagged.delete(tr[1].toLowerCase());
      c.status = tr[2].toLowerCase() as Command['status'];
      c.prefix = tr[3];
      s.steps.push({ kind: 'result', cmd: c });
      continue;
    }
    const st = /^(ok|no|bad|"")(?: (.*))?$/i.exec(line);
    const status = st ? ((st[1] === '""' ? '' : st[1].toLowerCase()) as Command['status']) : undefined;
    const p = pending.get(conn);
    if (st && p && (!st[2] || st[2].startsWith('['))) {
      pending.delete(conn);
      p.status = status;
      p.prefix = st[2];
      s.steps.push({ kind: 'result', cmd: p });
      continue;
    }
    let tag: string | null = null;
    let body = st ? (st[2] ?? '') : line;
    const tc = !st && /^(tag\w*) (.+)$/i.exec(line);
    if (tc) {
      tag = tc[1].toLowerCase();
      body = tc[2];
    }
    const parts: Part[] = [];
    let text = body;
    // literals: the data is the following lines joined by CRLF; the command goes on with the
    // next line when that starts with a space or ')'
    for (;;) {
      const lm = LITERAL_AT_END.exec(text);
      if (!lm) break;
      const size = Number(lm[2]);
      let data = '';
      const len = () => Buffer.byteLength(data);
      if (size > UNSENDABLE_LITERAL) {
        // rmb's addition: a literal this large has no data in the script; the server must refuse it before "+"
        parts.push({ text, literal: { data: '', sync: true, unsendable: true } });
        text = '';
        break;
      }
      while (size > 0) {
        if (++i >= lines.length) throw new ScriptError(`${where}: literal runs past the end`);
        data += lines[i];
        if (len() === size) break;
        data += '\r\n';
        if (len() === size) break;
        if (len() > size) throw new ScriptError(`${where}: literal data longer than ${size} bytes`);
      }
      parts.push({ text, literal: { data, sync: lm[3] !== '+' } });
      text = '';
      const next = lines[i + 1];
      if (next !== undefined && (next.startsWith(' ') || next.startsWith(')'))) {
        text = next;
        i++;
      } else break;
    }
    parts.push({ text });
    const cmd: Command = { conn, tag, parts, expects: [], line: i + 1, status };
    last = cmd;
    if (st) {
      s.steps.push({ kind: 'send', cmd, wait: true });
      continue;
    }
    s.steps.push({ kind: 'send', cmd, wait: false });
    if (tag) tagged.set(tag, cmd);
    else pending.set(conn, cmd);
  }
  if (pending.size || tagged.size) throw new ScriptError(`${name}: command(s) without a result line`);
  return s;
}

/** Split an mbox file into messages (lines starting "From " separate; CRLF line ends). */
export function parseMbox(text: string): { data: string; date?: Date }[] {
  const out: { data: string; date?: Date }[] = [];
  let cur: string[] | null = null;
  let date: Date | undefined;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line.startsWith('From ')) {
      if (cur) out.push({ data: finish(cur), date });
      cur = [];
      const d = new Date(line.split(' ').slice(2).join(' ') + ' UTC');
      date = isNaN(d.getTime()) ? undefined : d;
      continue;
    }
    cur?.push(line.replace(/^>(>*From )/, '$1'));
  }
  if (cur) out.push({ data: finish(cur), date });
  return out;
}

function finish(lines: string[]): string {
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.join('\r\n') + '\r\n';
}
