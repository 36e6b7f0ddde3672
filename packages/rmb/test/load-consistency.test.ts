/**
 * Issue 10, H2: many clients on one account is the normal case. Ten imapflow sessions on one
 * mailbox APPEND (with keywords), STORE, EXPUNGE and FETCH at random while brand-new users log in
 * four sessions at a time; `rmb serve` on the embedded store. The run must end with no protocol
 * error in any session, every session's view (sequence numbers -> UIDs, flags, EXISTS, announced
 * keywords) equal to a fresh SELECT, and every new user with the whole default mailbox set.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { ImapFlow } from 'imapflow';
import { seededRandom } from '@rmb/rados/testing';
import { newDataDir, startServer, type ServerChild } from './harness.js';

const SESSIONS = 10;
const OPS = 40;
const NEW_USERS = 5;
const DEFAULTS = ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash'];

let dataDir: string;
let srv: ServerChild;
beforeAll(async () => {
  const users: Record<string, string> = { load: 'pw' };
  for (let i = 0; i < NEW_USERS; i++) users[`newbie${i}`] = 'pw';
  dataDir = newDataDir(users);
  srv = await startServer(dataDir);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const client = (user: string, port = srv.imap) =>
  new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass: 'pw' },
    logger: false,
    disableCompression: true, // the recording proxy reads the responses
  });

/** A proxy in front of the server recording what it sends to one client (one connection). */
async function recorder(): Promise<{ port: number; transcript: () => string; close(): void }> {
  let got = '';
  const proxy = createServer((c) => {
    const s = connect(srv.imap, '127.0.0.1');
    c.pipe(s);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      c.write(d);
    });
    s.on('close', () => c.destroy());
    c.on('close', () => s.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return { port: (proxy.address() as AddressInfo).port, transcript: () => got, close: () => proxy.close() };
}

/**
 * Keywords a transcript shows in a FETCH before a FLAGS response announced them (RFC 3501 §7.2.6:
 * the client must have been told of a keyword first). Literals are skipped.
 */
function unannounced(transcript: string): { missing: string[]; fetches: number } {
  const announced = new Set<string>();
  const out: string[] = [];
  let fetches = 0;
  for (const line of transcript
    .replace(/\{\d+\}\r\n[\s\S]*?(?=\r\n\* |\r\n[A-Za-z]\d* (OK|NO|BAD))/g, '')
    .split('\r\n')) {
    const f = /^\* FLAGS \(([^)]*)\)/.exec(line);
    if (f) for (const k of f[1].split(' ')) announced.add(k.toLowerCase());
    const m = /^\* \d+ FETCH .*FLAGS \(([^)]*)\)/.exec(line);
    const kws = m ? m[1].split(' ').filter((x) => x && !x.startsWith('\\')) : [];
    if (kws.length) fetches++;
    for (const k of kws) if (!announced.has(k.toLowerCase())) out.push(k);
  }
  return { missing: out, fetches };
}

/** UID and flags of every message by sequence number, as `c`'s session numbers them. */
async function view(c: ImapFlow): Promise<{ seq: number; uid: number; flags: string[] }[]> {
  const out: { seq: number; uid: number; flags: string[] }[] = [];
  if (!c.mailbox || !c.mailbox.exists) return out;
  for await (const m of c.fetch('1:*', { uid: true, flags: true }))
    out.push({ seq: m.seq, uid: m.uid, flags: [...(m.flags ?? [])].sort() });
  return out;
}

test(
  '10 sessions on one mailbox at random, new users logging in at once: no protocol error, every ' +
    'view equals a fresh SELECT',
  async () => {
    const errors: string[] = [];
    const proxies = await Promise.all(Array.from({ length: SESSIONS }, () => recorder()));
    const sessions = await Promise.all(
      proxies.map(async (p) => {
        const c = client('load', p.port);
        await c.connect();
        await c.mailboxOpen('INBOX');
        return c;
      }),
    );
    const worker = async (c: ImapFlow, n: number) => {
      const rnd = seededRandom(1000 + n);
      const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
      for (let i = 0; i < OPS; i++) {
        const uids = (await c.search({ all: true }, { uid: true })) || [];
        const op = rnd();
        try {
          if (op < 0.3 || !uids.length) {
            const kw = rnd() < 0.5 ? [`$Label${1 + Math.floor(rnd() * 5)}`] : [];
            await c.append(
              'INBOX',
              `From: s${n}@example.org\r\nSubject: op ${n}.${i}\r\n\r\nbody ${n}.${i}\r\n`,
              ['\\Seen', ...kw].slice(rnd() < 0.5 ? 0 : 1),
            );
          } else if (op < 0.55) {
            const flag = pick(['\\Flagged', '\\Answered', `$Work${Math.floor(rnd() * 3)}`]);
            if (rnd() < 0.6) await c.messageFlagsAdd(String(pick(uids)), [flag], { uid: true });
            else await c.messageFlagsRemove(String(pick(uids)), [flag], { uid: true });
          } else if (op < 0.7) {
            await c.messageDelete(String(pick(uids)), { uid: true });
          } else {
            // FETCH of messages another session may have expunged meanwhile
            for await (const m of c.fetch(
              `${pick(uids)}:${pick(uids)}`,
              { uid: true, flags: true, source: rnd() < 0.5, envelope: true },
              { uid: true },
            )) {
              if (!m.uid) errors.push(`session ${n}: FETCH without UID`);
            }
          }
        } catch (e) {
          const err = e as Error & { responseText?: string; responseStatus?: string };
          errors.push(`session ${n} op ${i}: ${err.responseStatus ?? ''} ${err.responseText ?? err.message}`);
        }
      }
    };
    const newcomers = async () => {
      const names: string[][] = [];
      await Promise.all(
        Array.from({ length: NEW_USERS * 4 }, async (_, k) => {
          const c = client(`newbie${k % NEW_USERS}`);
          await c.connect();
          names.push((await c.list()).map((b) => b.path).sort());
          await c.logout();
        }),
      );
      return names;
    };
    const [, listed] = await Promise.all([Promise.all(sessions.map((c, n) => worker(c, n))), newcomers()]);
    expect(errors).toEqual([]);
    for (const names of listed) expect(names).toEqual(DEFAULTS);

    // every session, once told of the changes (NOOP), sees what a fresh SELECT sees
    const fresh = client('load');
    await fresh.connect();
    await fresh.mailboxOpen('INBOX');
    const want = await view(fresh);
    expect(want.length).toBeGreaterThan(0);
    expect(want.some((m) => m.flags.some((f) => !f.startsWith('\\')))).toBe(true); // keywords were in play
    let keywordFetches = 0;
    for (const [n, c] of sessions.entries()) {
      await c.noop();
      expect({ n, exists: c.mailbox && c.mailbox.exists }).toEqual({ n, exists: want.length });
      expect({ n, view: await view(c) }).toEqual({ n, view: want });
      await c.logout();
      // every keyword a FETCH showed this session had been announced to it by FLAGS first
      const u = unannounced(proxies[n].transcript());
      expect({ n, unannounced: u.missing }).toEqual({ n, unannounced: [] });
      keywordFetches += u.fetches;
      proxies[n].close();
    }
    expect(keywordFetches).toBeGreaterThan(0); // the check above had FETCH responses with keywords to look at
    await fresh.logout();
  },
  180000,
);
