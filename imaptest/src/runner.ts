/**
 * The imaptest-format script runner: plays scripts (script.ts) against any IMAP server and
 * reports per script pass / fail (with the first mismatch) / skip (capability missing).
 */
import { formatDateTime } from '@rmb/imap';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, type Response } from './client.js';
import { parseMbox, parseScript, type Command, type Script } from './script.js';
import { match, render, tokenize, type Tok, type Vars, varText } from './tokens.js';

export { parseScript, parseMbox, type Script } from './script.js';
export { tokenize, match } from './tokens.js';

/** Where and as whom to run. */
export interface RunOptions {
  host: string;
  port: number;
  user: string;
  pass: string;
  /** Directory of scripts and mbox files (default: imaptest/scripts). */
  dir: string;
  /** Run only these script names. */
  only?: string[];
  /** Per-reply timeout, ms (default 10000). */
  timeoutMs?: number;
  /** Leave each script's mailboxes in place after it (to inspect the store); a later run removes them first. */
  keepMailboxes?: boolean;
}

/** Outcome of one script. */
export interface ScriptResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped. */
  reason?: string;
  /** The script's `reference-differs:` headers. */
  referenceDiffers: string[];
}

class Failure extends Error {}

/** An untagged line matches when the expected tokens are a prefix of it (resp-text may follow). */
const TOP = { unordered: 0, extra: true };

/** The names of the scripts in a directory (files without an extension, not README). */
export function scriptNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.includes('.') && f !== 'README')
    .sort();
}

/** Run every script (or `only`) in order; never throws for a server's misbehaviour. */
export async function runScripts(o: RunOptions): Promise<ScriptResult[]> {
  const out: ScriptResult[] = [];
  for (const name of o.only ?? scriptNames(o.dir)) out.push(await runOne(name, o));
  return out;
}

/** Parse and run one script by name. */
export async function runOne(name: string, o: RunOptions): Promise<ScriptResult> {
  let script: Script;
  try {
    script = parseScript(name, readFileSync(join(o.dir, name), 'utf8'));
  } catch (e) {
    return { name, status: 'fail', reason: `script error: ${(e as Error).message}`, referenceDiffers: [] };
  }
  const mboxPath = existsSync(join(o.dir, `${name}.mbox`)) ? join(o.dir, `${name}.mbox`) : join(o.dir, 'default.mbox');
  const mbox = existsSync(mboxPath) ? parseMbox(readFileSync(mboxPath, 'utf8')) : [];
  const conns: Connection[] = [];
  const result: ScriptResult = { name, status: 'pass', referenceDiffers: script.referenceDiffers };
  try {
    await play(script, mbox, o, conns);
  } catch (e) {
    if (e instanceof Skip) {
      result.status = 'skip';
      result.reason = e.message;
    } else {
      result.status = 'fail';
      result.reason = (e as Error).message;
    }
  } finally {
    try {
      if (conns[0] && !conns[0].isClosed && script.state !== 'nonauth' && !o.keepMailboxes)
        await cleanup(conns[0], mailboxName(name));
    } catch {
      /* best effort */
    }
    for (const c of conns) c.close();
  }
  return result;
}

class Skip extends Error {}

/** The test mailbox of a script. */
export function mailboxName(script: string): string {
  return `imaptest-${script}`;
}

function q(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

async function expectOk(c: Connection, cmd: string): Promise<void> {
  const r = await c.run(cmd);
  if (!/^OK\b/i.test(r.text)) throw new Failure(`set-up "${cmd}" failed: ${r.text}`);
}

async function cleanup(c: Connection, mailbox: string): Promise<void> {
  const before = c.untagged.length;
  await c.run(`LIST "" ${q(mailbox + '*')}`);
  const names = c.untagged
    .slice(before)
    .map((r) => tokenize(r.text, r.literals))
    .filter((t) => t[0]?.t === 'atom' && /^LIST$/i.test(t[0].v))
    .map((t) => (t[3] as { v: string }).v)
    .sort((a, b) => b.length - a.length);
  for (const n of names) await c.run(`DELETE ${q(n)}`);
}

async function play(
  script: Script,
  mbox: { data: string; date?: Date }[],
  o: RunOptions,
  conns: Connection[],
): Promise<void> {
  const timeout = o.timeoutMs ?? 10000;
  const mailbox = mailboxName(script.name);
  for (let k = 0; k < script.connections; k++) {
    const c = await Connection.open(o.host, o.port, timeout);
    c.credentials = { user: o.user, pass: o.pass };
    conns.push(c);
    if (script.state !== 'nonauth') await expectOk(c, `LOGIN ${q(o.user)} ${q(o.pass)}`);
  }
  const first = conns[0];
  // capabilities: from CAPABILITY in the state the script runs in
  const before = first.untagged.length;
  await first.run('CAPABILITY');
  const caps = new Set(
    first.untagged
      .slice(before)
      .filter((r) => /^CAPABILITY /i.test(r.text))
      .flatMap((r) => r.text.split(' ').slice(1))
      .map((x) => x.toUpperCase()),
  );
  // a capability named without a value also matches NAME=value (APPENDLIMIT=n)
  const missing = script.capabilities.filter(
    (x) =>
      !caps.has(x.toUpperCase()) && (x.includes('=') || ![...caps].some((c) => c.startsWith(`${x.toUpperCase()}=`))),
  );
  if (missing.length) throw new Skip(`server lacks ${missing.join(' ')}`);
  if (script.state !== 'nonauth') {
    await cleanup(first, mailbox);
    if (script.state !== 'auth') await expectOk(first, `CREATE ${q(mailbox)}`);
    if (script.state === 'appended' || script.state === 'selected') {
      for (const m of mbox.slice(0, Math.min(mbox.length, script.messages))) {
        const tag = first.nextTag();
        const date = m.date ? ` "${imapDate(m.date)}"` : '';
        const r = await first.wait(
          (
            await first.send(tag, [
              {
                text: `APPEND ${q(mailbox)}${date} {${Buffer.byteLength(m.data)}}`,
                literal: { data: m.data, sync: true },
              },
              { text: '' },
            ])
          ).done,
          'APPEND',
        );
        if (!/^OK\b/i.test(r.text)) throw new Failure(`set-up APPEND failed: ${r.text}`);
      }
    }
    if (script.state === 'selected') for (const c of conns) await expectOk(c, `SELECT ${q(mailbox)}`);
  }
  const vars: Vars = new Map();
  const predefined: Record<string, string> = {
    mailbox,
    user: o.user,
    username: o.user,
    password: o.pass,
    // SASL PLAIN initial response (RFC 4616) for the test user
    auth_plain: Buffer.from(`\0${o.user}\0${o.pass}`).toString('base64'),
    user_base64: Buffer.from(o.user).toString('base64'),
    password_base64: Buffer.from(o.pass).toString('base64'),
  };
  const subst = (text: string) =>
    text.replace(/\$\{?([A-Za-z_][\w]*)\}?/g, (all, n: string) => {
      if (n in predefined) return predefined[n];
      const v = vars.get(n);
      return v ? varText(v) : all;
    });
  interface Flight {
    cmd: Command;
    reply: Promise<Response>;
    start: number;
    tag: string;
  }
  const flying = new Map<Command, Flight>();
  const openOn = (conn: number) => [...flying.values()].filter((f) => f.cmd.conn === conn);
  const settle = async (cmd: Command) => {
    const f = flying.get(cmd)!;
    const c = conns[cmd.conn - 1];
    const reply = await c.wait(f.reply, `line ${cmd.line}`);
    flying.delete(cmd);
    const where = `line ${cmd.line} (${subst(cmd.parts.map((p) => p.text).join(' ')).slice(0, 80)})`;
    const [status, ...rest] = reply.text.split(' ');
    if (cmd.status && status.toLowerCase() !== cmd.status)
      throw new Failure(`${where}: expected ${cmd.status.toUpperCase()}, got ${reply.text}`);
    if (cmd.prefix) {
      const exp = tokenize(subst(cmd.prefix), [], true);
      const got = tokenize(rest.join(' '), reply.literals);
      const v = match([{ t: 'atom', v: '$!extra' }, ...exp], got, vars);
      if (!v) throw new Failure(`${where}: reply "${reply.text}" does not start with "${cmd.prefix}"`);
      for (const [k, x] of v) vars.set(k, x);
    }
    checkUntagged(cmd, c.untagged.slice(f.start), where);
    if (/^compress deflate$/i.test(cmd.parts[0].text) && /^OK\b/i.test(reply.text)) c.startCompression();
  };
  const checkUntagged = (cmd: Command, window: Response[], where: string) => {
    const actual = window.map((r) => ({ r, toks: tokenize(r.text, r.literals), used: false }));
    for (const e of cmd.expects) {
      if (e.kind === '!') continue;
      const exp = tokenize(subst(e.text), [], true);
      let found = false;
      for (const a of actual) {
        if (a.used) continue;
        const v = match(exp, a.toks, vars, TOP);
        if (v) {
          for (const [k, x] of v) vars.set(k, x);
          a.used = true;
          found = true;
          break;
        }
      }
      if (!found && e.kind === '*') {
        throw new Failure(
          `${where}: missing untagged "* ${e.text}" (line ${e.line}); ` +
            `got:\n${actual.map((a) => `    * ${render(a.toks)}`).join('\n') || '    (none)'}`,
        );
      }
    }
    for (const e of cmd.expects.filter((x) => x.kind === '!')) {
      const exp = tokenize(subst(e.text), [], true);
      const hit = actual.find((a) => match(exp, a.toks, vars, TOP));
      if (hit) throw new Failure(`${where}: unexpected untagged "* ${render(hit.toks)}" (line ${e.line} forbids it)`);
    }
    if (!script.ignoreExtraUntagged) {
      const extra = actual.filter((a) => !a.used);
      if (extra.length)
        throw new Failure(`${where}: unexpected untagged:\n${extra.map((a) => `    * ${render(a.toks)}`).join('\n')}`);
    }
  };
  let corked: Connection | undefined;
  for (const step of script.steps) {
    const cmd = step.cmd;
    const c = conns[cmd.conn - 1];
    // pipelined commands (sent without waiting) leave together, as a client's pipeline would
    const pipelined = step.kind === 'send' && !step.wait && !cmd.parts.some((p) => p.literal?.sync || p.cont);
    if (corked && (!pipelined || corked !== c)) {
      corked.uncork();
      corked = undefined;
    }
    if (pipelined && !corked) {
      c.cork();
      corked = c;
    }
    if (step.kind === 'send') {
      const tag = cmd.tag ?? c.nextTag();
      const earlier = openOn(cmd.conn).map((f) => f.start);
      const start = Math.min(c.untagged.length, ...earlier);
      const parts = cmd.parts.map((p) => ({
        ...p,
        text: subst(p.text),
        literal: p.literal && { ...p.literal, data: subst(p.literal.data) },
      }));
      const { done: reply } = await c.send(tag, parts);
      flying.set(cmd, { cmd, reply, start, tag });
      if (step.wait) await settle(cmd);
    } else {
      await settle(cmd);
    }
  }
}

/** An IMAP date-time (RFC 3501 §9 date-time) in UTC. */
export const imapDate = (d: Date): string => formatDateTime(d.getTime());

export type { Tok };
