/** STORE and UID STORE (RFC 3501 §6.4.6): one guarded index commit for the whole set. */
import type { CommandSpec } from '../context.js';
import { asText } from '../../protocol/tokens.js';
import { parseSeqSet, toSeqString } from '../../protocol/sequence.js';
import { bad, no } from '../errors.js';
import { parseFlagList } from './flags.js';

export const store: CommandSpec = {
  name: 'STORE',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  needs: 'mailbox',
  async run({ session, view: v, tag, args: all, uid }) {
    // STORE set (UNCHANGEDSINCE n) item flags (RFC 7162 §3.1.3)
    let args = all;
    let unchangedSince: number | undefined;
    if (all[1]?.type === 'list') {
      const mods = all[1].value;
      for (let i = 0; i < mods.length; i += 2) {
        const name = mods[i]?.type === 'atom' ? (mods[i] as { value: string }).value.toUpperCase() : '';
        const val = mods[i + 1]?.type === 'atom' ? (mods[i + 1] as { value: string }).value : '';
        if (name !== 'UNCHANGEDSINCE' || !/^\d{1,19}$/.test(val)) throw bad('Invalid STORE modifier');
        unchangedSince = Number(val);
      }
      args = [all[0], ...all.slice(2)];
      session.enableCondstore();
    }
    if (args.length < 3) throw bad('STORE needs a sequence set, an item and flags');
    const targets = v.resolve(parseSeqSet(asText(args[0], 'sequence set')), uid);
    const item = asText(args[1], 'item').toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
    if (!m) throw bad(`Invalid STORE item ${item.slice(0, 30)}`);
    if (v.readOnly) throw no('READ-ONLY', 'Mailbox is read-only.');
    const flagTok = args.length === 3 ? args[2] : { type: 'list' as const, value: args.slice(2) };
    const flags = parseFlagList(flagTok);
    // \Recent is the server's to set (RFC 3501 §2.3.2; it is not a flag-perm): refused like Dovecot does
    if (flags.includes('\\Recent')) throw bad('Invalid system flag \\Recent');
    const mode = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'replace';
    const uids = targets.map(([, u]) => u);
    const r = uids.length
      ? await v.mailbox.store(uids, mode, flags, unchangedSince)
      : { changed: [], unchanged: [], modified: [] };
    for (const e of r.changed) v.update(e);
    const condstore = session.enabled.has('CONDSTORE');
    const changed = new Set(r.changed.map((e) => e.uid));
    const modified = new Set(r.modified);
    // a keyword new to this mailbox is announced before the FETCH responses that carry it
    // keywords new to this session are announced before the FETCH responses that carry them: the
    // ones stored now, and those another session set on these messages meanwhile (the index's
    // current entries came back with the commit)
    const shown = targets.map(([, u]) => v.entries.get(u)?.flags ?? []);
    const lines: string[] = v.announceKeywords(mode === 'remove' ? shown : [flags, ...shown]).map((l) => `${l}\r\n`);
    for (const [seq, u] of targets) {
      const e = v.entries.get(u);
      if (!e || modified.has(u)) continue;
      const modseq = condstore ? ` MODSEQ (${e.modseq})` : '';
      if (!m[2]) lines.push(`* ${seq} FETCH (${uid ? `UID ${u} ` : ''}FLAGS (${v.flagsOf(e).join(' ')})${modseq})\r\n`);
      // .SILENT still reports the new MODSEQ of what changed (RFC 7162 §3.1.3)
      else if (condstore && changed.has(u))
        lines.push(`* ${seq} FETCH (${uid ? `UID ${u} ` : ''}${modseq.trim()})\r\n`);
    }
    session.write(lines);
    if (modified.size) {
      const ids = targets.filter(([, u]) => modified.has(u)).map(([seq, u]) => (uid ? u : seq));
      await session.ok(tag, 'Conditional store completed.', `MODIFIED ${toSeqString(ids)}`);
    } else await session.ok(tag, 'Store completed.');
  },
};
