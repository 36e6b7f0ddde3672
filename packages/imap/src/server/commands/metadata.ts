/**
 * GETMETADATA and SETMETADATA (RFC 5464 METADATA): server entries (mailbox "") and entries of
 * the user's mailboxes, under /private and /shared; GETMETADATA options MAXSIZE (longer values
 * left out, `OK [METADATA LONGENTRIES n]`) and DEPTH 0/1/infinity. Limits from the store:
 * `NO [METADATA MAXSIZE n]`, `NO [METADATA TOOMANY]`.
 */
import { MetadataLimit, type MetadataDepth, validEntry } from '@rmb/librmb';
import type { CommandSpec, UserContext } from '../context.js';
import { asAstring, type Token } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { bad, no } from '../errors.js';

/** The scope of a mailbox argument: '' for the server, else the mailbox's id. Throws NO [NONEXISTENT]. */
async function scopeOf(ctx: UserContext, t: Token | undefined): Promise<{ scope: string; name: string }> {
  const raw = asAstring(t, 'mailbox');
  if (raw === '') return { scope: '', name: '' };
  const mb = await ctx.user.mailbox(ctx.session.mailboxArg(t!));
  return { scope: mb.id, name: mb.name };
}

function entryName(t: Token): string {
  const e = asAstring(t, 'entry');
  if (!validEntry(e)) throw bad(`Invalid metadata entry ${e.slice(0, 60)}`);
  return e;
}

export const getmetadata: CommandSpec = {
  name: 'GETMETADATA',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run(ctx) {
    const a = [...ctx.args];
    let maxSize = Infinity;
    let depth: MetadataDepth = '0';
    if (a[0]?.type === 'list' && a.length === 3) {
      const o = a.shift()!.value as Token[];
      for (let i = 0; i < o.length; i += 2) {
        const kt = o[i];
        const k = kt?.type === 'atom' ? kt.value.toUpperCase() : '';
        const v = o[i + 1]?.type === 'atom' ? (o[i + 1] as { value: string }).value.toLowerCase() : '';
        if (k === 'MAXSIZE' && /^\d{1,10}$/.test(v)) maxSize = Number(v);
        else if (k === 'DEPTH' && (v === '0' || v === '1' || v === 'infinity')) depth = v;
        else throw bad('Invalid GETMETADATA option');
      }
    }
    if (a.length !== 2) throw bad('GETMETADATA needs a mailbox and entries');
    const { scope, name } = await scopeOf(ctx, a[0]);
    const entries = (a[1].type === 'list' ? a[1].value : [a[1]]).map(entryName);
    if (!entries.length) throw bad('No entries');
    const found = await ctx.user.getMetadata(scope, entries, depth);
    let longest = 0;
    const parts: string[] = [];
    const values: (Buffer | null)[] = [];
    // without DEPTH, an entry asked for by name that has no value is answered with NIL, as Dovecot does
    if (depth === '0')
      for (const e of entries)
        if (!found.has(e.toLowerCase())) {
          parts.push(e.toLowerCase());
          values.push(null);
        }
    for (const [e, v] of found) {
      if (v.length > maxSize) {
        longest = Math.max(longest, v.length);
        continue;
      }
      parts.push(e);
      values.push(v);
    }
    if (parts.length) {
      const chunks: (string | Buffer)[] = [`* METADATA ${str(ctx.session.mailboxOut(name))} (`];
      parts.forEach((e, i) => {
        const v = values[i];
        chunks.push(`${i ? ' ' : ''}${str(e)} ${v ? `{${v.length}}\r\n` : 'NIL'}`);
        if (v) chunks.push(v);
      });
      chunks.push(')\r\n');
      ctx.session.write(chunks);
    }
    await ctx.session.ok(ctx.tag, 'Getmetadata completed.', longest ? `METADATA LONGENTRIES ${longest}` : undefined);
  },
};

export const setmetadata: CommandSpec = {
  name: 'SETMETADATA',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run(ctx) {
    if (ctx.args.length !== 2 || ctx.args[1].type !== 'list')
      throw bad('SETMETADATA needs a mailbox and a list of entries and values');
    const { scope } = await scopeOf(ctx, ctx.args[0]);
    const l = ctx.args[1].value;
    if (!l.length || l.length % 2) throw bad('Entries and values must come in pairs');
    const values = new Map<string, Buffer | null>();
    for (let i = 0; i < l.length; i += 2) {
      const v = l[i + 1];
      if (v.type === 'list') throw bad('Invalid metadata value');
      values.set(
        entryName(l[i]),
        v.type === 'atom' ? (v.value.toUpperCase() === 'NIL' ? null : Buffer.from(v.value)) : v.value,
      );
    }
    try {
      await ctx.user.setMetadata(scope, values);
    } catch (e) {
      if (e instanceof MetadataLimit)
        throw no(e.kind === 'MAXSIZE' ? `METADATA MAXSIZE ${e.limit}` : 'METADATA TOOMANY', e.message);
      throw e;
    }
    await ctx.session.ok(ctx.tag, 'Setmetadata completed.');
  },
};
