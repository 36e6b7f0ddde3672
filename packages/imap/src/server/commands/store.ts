/** STORE and UID STORE (RFC 3501 §6.4.6): one guarded index commit for the whole set. */
import type { CommandSpec } from '../context.js';
import { asText } from '../../protocol/tokens.js';
import { parseSeqSet } from '../../protocol/sequence.js';
import { bad, no } from '../errors.js';
import { parseFlagList } from './flags.js';

export const store: CommandSpec = {
  name: 'STORE',
  states: ['selected'],
  usesSequenceNumbers: true,
  uidForm: true,
  async run({ session, tag, args, uid }) {
    if (args.length < 3) throw bad('STORE needs a sequence set, an item and flags');
    const v = session.selected!;
    const targets = v.resolve(parseSeqSet(asText(args[0], 'sequence set')), uid);
    const item = asText(args[1], 'item').toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
    if (!m) throw bad(`Invalid STORE item ${item.slice(0, 30)}`);
    if (v.readOnly) throw no('READ-ONLY', 'Mailbox is read-only.');
    const flagTok = args.length === 3 ? args[2] : { type: 'list' as const, value: args.slice(2) };
    const flags = parseFlagList(flagTok).filter((f) => f !== '\\Recent');
    const mode = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'replace';
    const uids = targets.map(([, u]) => u);
    const r = uids.length ? await v.mailbox.store(uids, mode, flags) : { changed: [], unchanged: [], modified: [] };
    for (const e of r.changed) v.update(e);
    if (!m[2]) {
      const lines: string[] = [];
      for (const [seq, u] of targets) {
        const e = v.entries.get(u);
        if (!e) continue;
        lines.push(`* ${seq} FETCH (${uid ? `UID ${u} ` : ''}FLAGS (${v.flagsOf(e).join(' ')}))\r\n`);
      }
      session.write(lines);
    }
    await session.ok(tag, 'Store completed.');
  },
};
