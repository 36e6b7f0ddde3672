/**
 * An IMAP-like source held in memory, for the sync engine's tests: folders with UIDVALIDITY,
 * UIDNEXT, HIGHESTMODSEQ (each change bumps it, as CONDSTORE does), messages with flags and
 * dates; RENAME keeps UIDVALIDITY (as Dovecot does); `refuse` makes FETCH of a body fail (a NO).
 */
import { SourceUnavailable, type OpenFolder, type Source, type SourceFolder, type SourceMeta } from '../src/index.js';

interface MemMessage {
  data: Buffer;
  flags: string[];
  internalDate: number;
  modseq: number;
}

interface MemFolder {
  uidvalidity: number;
  uidnext: number;
  modseq: number;
  specialUse: string | null;
  subscribed: boolean;
  messages: Map<number, MemMessage>;
}

export class MemSource implements Source {
  readonly folders_ = new Map<string, MemFolder>();
  /** UIDs whose body FETCH is answered NO (per folder). */
  readonly refuse = new Map<string, Set<number>>();
  /** Body fetches made (messages). */
  bodyFetches = 0;
  private nextUv = 1000;

  constructor(
    readonly delimiter = '/',
    readonly condstore = true,
  ) {
    this.create('INBOX');
  }

  create(name: string, specialUse: string | null = null, subscribed = true): void {
    this.folders_.set(name, {
      uidvalidity: this.nextUv++,
      uidnext: 1,
      modseq: 1,
      specialUse,
      subscribed,
      messages: new Map(),
    });
  }

  add(name: string, data: string | Buffer, flags: string[] = [], internalDate = Date.UTC(2021, 0, 1)): number {
    const f = this.folders_.get(name)!;
    const uid = f.uidnext++;
    f.messages.set(uid, { data: Buffer.from(data), flags, internalDate, modseq: ++f.modseq });
    return uid;
  }

  setFlags(name: string, uid: number, flags: string[]): void {
    const f = this.folders_.get(name)!;
    f.messages.get(uid)!.flags = flags;
    f.messages.get(uid)!.modseq = ++f.modseq;
  }

  expunge(name: string, uid: number): void {
    const f = this.folders_.get(name)!;
    f.messages.delete(uid);
    f.modseq++;
  }

  rename(from: string, to: string): void {
    for (const [n, f] of [...this.folders_]) {
      if (n === from || n.startsWith(from + this.delimiter)) {
        this.folders_.delete(n);
        this.folders_.set(to + n.slice(from.length), f);
      }
    }
  }

  /** A new UIDVALIDITY (as a server that lost its index): UIDs start over. */
  reset(name: string): void {
    const f = this.folders_.get(name)!;
    const msgs = [...f.messages.values()];
    f.uidvalidity = this.nextUv++;
    f.uidnext = 1;
    f.messages = new Map();
    for (const m of msgs) f.messages.set(f.uidnext++, m);
  }

  private status(name: string, f: MemFolder): SourceFolder {
    return {
      name,
      delimiter: this.delimiter,
      specialUse: f.specialUse,
      subscribed: f.subscribed,
      noselect: false,
      uidvalidity: f.uidvalidity,
      uidnext: f.uidnext,
      messages: f.messages.size,
      ...(this.condstore ? { highestModseq: f.modseq } : {}),
    };
  }

  async folders(): Promise<SourceFolder[]> {
    return [...this.folders_].map(([n, f]) => this.status(n, f));
  }

  async open(folder: SourceFolder): Promise<OpenFolder> {
    const f = this.folders_.get(folder.name);
    if (!f) throw new SourceUnavailable(`no folder ${folder.name}`);
    const refuse = this.refuse.get(folder.name) ?? new Set<number>();
    const status = this.status(folder.name, f);
    const meta = (uid: number): SourceMeta | null => {
      const m = f.messages.get(uid);
      return m ? { uid, flags: [...m.flags], internalDate: m.internalDate, size: m.data.length } : null;
    };
    return {
      status,
      condstore: this.condstore,
      uids: async () => [...f.messages.keys()].sort((a, b) => a - b),
      flags: async (lo, hi, since) => {
        const out = new Map<number, string[]>();
        for (const [uid, m] of f.messages) {
          if (uid >= lo && uid <= hi && (!since || !this.condstore || m.modseq > since)) out.set(uid, [...m.flags]);
        }
        return out;
      },
      meta: async (uids) => uids.map(meta).filter((m): m is SourceMeta => !!m),
      bodies: async (uids) => {
        if (uids.some((u) => refuse.has(u))) throw new SourceUnavailable('FETCH: NO [SERVERBUG] cannot read message');
        const out = new Map<number, Buffer>();
        for (const u of uids) {
          const m = f.messages.get(u);
          if (m) {
            out.set(u, m.data);
            this.bodyFetches++;
          }
        }
        return out;
      },
      stream: async (uid) => {
        const m = f.messages.get(uid);
        if (!m) return null;
        this.bodyFetches++;
        const data = m.data;
        return {
          size: data.length,
          source: (async function* () {
            for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20));
          })(),
        };
      },
    };
  }

  async namespace(): Promise<string> {
    return 'memory';
  }

  async close(): Promise<void> {}
}
