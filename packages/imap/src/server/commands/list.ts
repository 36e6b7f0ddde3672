/**
 * LIST and LSUB (RFC 3501 §6.3.8-9) with LIST-EXTENDED (RFC 5258: selection options SUBSCRIBED,
 * REMOTE, RECURSIVEMATCH, SPECIAL-USE; several patterns; RETURN options SUBSCRIBED, CHILDREN,
 * SPECIAL-USE), LIST-STATUS (RFC 5819: RETURN (STATUS (...))), special-use attributes
 * (RFC 6154) and child info (RFC 3348 \HasChildren / \HasNoChildren).
 */
import { type MailboxInfo, Unavailable } from '@rmb/librmb';
import { isErrno } from '@rmb/rados';
import type { CommandContext, CommandSpec, UserContext } from '../context.js';
import { asText, type Token } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { decodeMailboxName, InvalidMutf7 } from '../../protocol/utf7.js';
import { bad } from '../errors.js';
import { statusItems, statusLine } from './status.js';

/** Compile a LIST pattern: "*" matches anything, "%" anything but the separator. */
export function patternRegExp(pattern: string): RegExp {
  const esc = pattern
    .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/%/g, '[^/]*');
  return new RegExp(`^${esc}$`, /^inbox/i.test(pattern) ? 'i' : '');
}

interface ListOptions {
  subscribedOnly: boolean;
  recursiveMatch: boolean;
  specialUseOnly: boolean;
  returnSubscribed: boolean;
  returnStatus?: string[];
}

/** The names above a mailbox name, outermost first ("a/b/c" -> "a", "a/b"). */
function ancestors(name: string): string[] {
  return name
    .split('/')
    .slice(0, -1)
    .map((_, i, p) => p.slice(0, i + 1).join('/'));
}

function atoms(t: Token, what: string): string[] {
  if (t.type !== 'list') throw bad(`Invalid ${what}`);
  return t.value.map((x) => {
    if (x.type !== 'atom') throw bad(`Invalid ${what}`);
    return x.value.toUpperCase();
  });
}

/** Parse LIST's extended arguments (RFC 5258 §3): [(selection)] ref pattern(s) [RETURN (options)]. */
function parseList(ctx: CommandContext): { ref: Token; patterns: Token[]; o: ListOptions } {
  const a = [...ctx.args];
  const o: ListOptions = {
    subscribedOnly: false,
    recursiveMatch: false,
    specialUseOnly: false,
    returnSubscribed: false,
  };
  if (a[0]?.type === 'list') {
    for (const s of atoms(a.shift()!, 'selection option')) {
      if (s === 'SUBSCRIBED') o.subscribedOnly = true;
      else if (s === 'RECURSIVEMATCH') o.recursiveMatch = true;
      else if (s === 'SPECIAL-USE') o.specialUseOnly = true;
      else if (s !== 'REMOTE') throw bad(`Unknown selection option ${s.slice(0, 30)}`);
    }
    // RECURSIVEMATCH needs another option that it modifies (RFC 5258 §3.1)
    if (o.recursiveMatch && !o.subscribedOnly) throw bad('RECURSIVEMATCH needs SUBSCRIBED');
  }
  const ref = a.shift();
  const pat = a.shift();
  if (!ref || !pat) throw bad('LIST needs a reference and a pattern');
  const patterns = pat.type === 'list' ? pat.value : [pat];
  if (!patterns.length) throw bad('Empty pattern list');
  if (a.length) {
    const kw = a.shift()!;
    if (kw.type !== 'atom' || kw.value.toUpperCase() !== 'RETURN' || a.length !== 1 || a[0].type !== 'list')
      throw bad('Invalid LIST arguments');
    const opts = a[0].value;
    for (let i = 0; i < opts.length; i++) {
      const t = opts[i];
      if (t.type !== 'atom') throw bad('Invalid return option');
      const r = t.value.toUpperCase();
      if (r === 'SUBSCRIBED') o.returnSubscribed = true;
      else if (r === 'STATUS') o.returnStatus = statusItems(opts[++i]);
      else if (r !== 'CHILDREN' && r !== 'SPECIAL-USE') throw bad(`Unknown return option ${r.slice(0, 30)}`);
    }
  }
  if (o.subscribedOnly) o.returnSubscribed = true; // RFC 5258 §3.1: SUBSCRIBED implies RETURN (SUBSCRIBED)
  return { ref, patterns, o };
}

async function list(ctx: UserContext, lsub: boolean): Promise<void> {
  const { session, tag } = ctx;
  const { ref: refTok, patterns, o } = lsub ? lsubArgs(ctx) : parseList(ctx);
  // a reference or pattern that is not valid modified UTF-7 matches no mailbox (OK, nothing listed, as Dovecot)
  const decoded = (t: Token | undefined, what: string) => {
    try {
      return decodeMailboxName(asText(t, what), session.utf8);
    } catch (e) {
      if (e instanceof InvalidMutf7) return null;
      throw e;
    }
  };
  const ref = decoded(refTok, 'reference');
  const pats = ref === null ? [] : patterns.map((p) => decoded(p, 'pattern')).filter((p): p is string => p !== null);
  if (!pats.length) {
    await session.ok(tag, `${ctx.name} completed.`);
    return;
  }
  if (pats.length === 1 && pats[0] === '') {
    session.write(`* ${lsub ? 'LSUB' : 'LIST'} (\\Noselect) "/" ""\r\n`);
    await session.ok(tag, `${ctx.name} completed.`);
    return;
  }
  const res = pats
    .filter((p) => p !== '')
    .map((pat) => patternRegExp(ref && !ref.endsWith('/') && !pat.startsWith('/') ? `${ref}/${pat}` : ref + pat));
  const matches = (n: string) => res.some((re) => re.test(n));
  const boxes = await ctx.user.mailboxes();
  const byName = new Map<string, MailboxInfo>(boxes.map((b) => [b.name, b]));
  const subs = new Set(o.subscribedOnly || o.returnSubscribed || lsub ? await ctx.user.subscriptions() : []);
  const names = o.subscribedOnly || lsub ? [...subs] : boxes.map((b) => b.name);
  // every name that has a mailbox below it: one pass, not a scan of all mailboxes per listed name
  const parents = new Set(boxes.flatMap((b) => ancestors(b.name)));
  const hasChildren = (n: string) => parents.has(n);
  const subscribedParents = new Set([...subs].flatMap(ancestors));
  const lines: string[] = [];
  const statusFor: MailboxInfo[] = [];
  const listed = new Set<string>();
  for (const name of names) {
    if (!matches(name)) continue;
    const info = byName.get(name);
    if (o.specialUseOnly && !info?.specialUse) continue;
    const attrs: string[] = [];
    if (!info) attrs.push(lsub ? '\\Noselect' : '\\NonExistent');
    if (!lsub) attrs.push(hasChildren(name) ? '\\HasChildren' : '\\HasNoChildren');
    if (o.returnSubscribed && subs.has(name)) attrs.push('\\Subscribed');
    if (info?.specialUse && !lsub) attrs.push(info.specialUse);
    // RECURSIVEMATCH: a listed mailbox with a subscribed descendant says so (RFC 5258 §3.5, RFC 9051 §6.3.9 table)
    const childInfo = o.recursiveMatch && subscribedParents.has(name) ? ' ("CHILDINFO" ("SUBSCRIBED"))' : '';
    lines.push(`* ${lsub ? 'LSUB' : 'LIST'} (${attrs.join(' ')}) "/" ${str(session.mailboxOut(name))}${childInfo}\r\n`);
    listed.add(name);
    if (info && o.returnStatus) statusFor.push(info);
  }
  // Parents the pattern reaches of subscribed names it does not reach: LSUB lists them \Noselect
  // (RFC 3501 §6.3.9), LIST (SUBSCRIBED RECURSIVEMATCH) with CHILDINFO (RFC 5258 §3.5; as Dovecot:
  // with "*" the subscribed descendant is listed itself and its parents are not)
  if (lsub || o.recursiveMatch) {
    for (const name of new Set([...subs].filter((n) => !matches(n)).flatMap(ancestors))) {
      if (listed.has(name) || !matches(name)) continue;
      if (lsub) lines.push(`* LSUB (\\Noselect) "/" ${str(session.mailboxOut(name))}\r\n`);
      else {
        const attrs = [hasChildren(name) ? '\\HasChildren' : '\\HasNoChildren'];
        if (!byName.has(name)) attrs.unshift('\\NonExistent');
        lines.push(`* LIST (${attrs.join(' ')}) "/" ${str(session.mailboxOut(name))} ("CHILDINFO" ("SUBSCRIBED"))\r\n`);
      }
      listed.add(name);
    }
  }
  session.write(lines);
  // LIST-STATUS: a STATUS response for each selectable mailbox listed (RFC 5819 §2); one deleted
  // meanwhile (its index gone) is left out, any other failure fails the command with its code
  const status = await Promise.all(
    statusFor.map((info) =>
      statusLine(session, ctx.user.mailboxOf(info), o.returnStatus!).catch((e: unknown) => {
        if (!(e instanceof Unavailable && isErrno(e.cause, 'ENOENT'))) throw e;
        session.env.log.debug({ mailbox: info.name, session: session.id }, 'LIST-STATUS: mailbox deleted meanwhile');
        return '';
      }),
    ),
  );
  session.write(status.filter(Boolean));
  await session.ok(tag, `${ctx.name} completed.`);
}

function lsubArgs(ctx: CommandContext): { ref: Token; patterns: Token[]; o: ListOptions } {
  if (ctx.args.length !== 2) throw bad('LSUB needs a reference and a pattern');
  return {
    ref: ctx.args[0],
    patterns: [ctx.args[1]],
    o: { subscribedOnly: true, recursiveMatch: false, specialUseOnly: false, returnSubscribed: false },
  };
}

export const listCommand: CommandSpec = {
  name: 'LIST',
  states: ['authenticated', 'selected'],
  needs: 'user',
  run: (ctx) => list(ctx, false),
};
export const lsubCommand: CommandSpec = {
  name: 'LSUB',
  states: ['authenticated', 'selected'],
  needs: 'user',
  run: (ctx) => list(ctx, true),
};
