/**
 * Issue 15, O1: `kill -9` of `rmb serve` three times at random moments in the middle of 5,000
 * LMTP deliveries (4 connections of the test's own LMTP client) and an APPEND load (2 IMAP
 * connections), with a restart each time. The senders behave as an MTA and a client do: what was
 * not answered 250 / OK is sent again. Then every mail answered 250 or OK is in the mailbox with
 * its bytes, `rmb check` finds no index entry without its object, the orphans the crashes left are
 * found and removed by `rmb check --repair`, and a second check finds nothing of any kind.
 * On the embedded store, and on Ceph when configured (`.ci/run` does).
 */
import { rmSync } from 'node:fs';
import { cephSuite, seededRandom } from '@rmb/rados/testing';
import { newDataDir, rmbCli, RawClient, startServer, storeSets, type Backend, type ServerChild } from './harness.js';
import { LmtpClient } from './lmtp-client.js';

const DELIVERIES = 5000;
const APPENDS = 600;
const LMTP_CONNECTIONS = 4;
const IMAP_CONNECTIONS = 2;
const KILLS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The message with id `id` (its bytes are what must come back). */
const mail = (id: string) =>
  `From: load@example.com\r\nTo: crash@localhost\r\nSubject: ${id}\r\nMessage-ID: <${id}@crash>\r\n\r\n` +
  `${'line of the body '.repeat(3)}${id}\r\n`.repeat(4);

function campaign(backend: Backend): void {
  let dataDir: string;
  let sets: string[];
  let srv: ServerChild | undefined;
  beforeAll(() => {
    dataDir = newDataDir({ crash: 'pw' });
    sets = storeSets(backend);
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const rmb = (...args: string[]) => rmbCli(dataDir, args, sets);

  const title =
    `kill -9 three times under ${DELIVERIES} LMTP deliveries and ${APPENDS} APPENDs: ` +
    'nothing acknowledged is lost, check repairs the rest';
  test(
    title,
    async () => {
      srv = await startServer(dataDir, sets);
      const rnd = seededRandom(4242);
      const acked = new Map<string, string>(); // id -> bytes
      const pending = [
        ...Array.from({ length: DELIVERIES }, (_, i) => `L${i}`),
        ...Array.from({ length: APPENDS }, (_, i) => `A${i}`),
      ];
      const lmtpQueue = pending.filter((id) => id.startsWith('L'));
      const imapQueue = pending.filter((id) => id.startsWith('A'));
      let failures = 0;
      let killing = false;
      let underLoad = 0;

      const lmtpSender = async () => {
        for (;;) {
          if (!lmtpQueue.length) return;
          let c: LmtpClient;
          try {
            c = await LmtpClient.open(srv!.lmtp);
          } catch {
            failures++;
            await sleep(50);
            continue;
          }
          try {
            while (lmtpQueue.length) {
              const id = lmtpQueue.shift()!;
              let reply: string;
              try {
                reply = await c.send('load@example.com', 'crash@localhost', mail(id));
              } catch (e) {
                lmtpQueue.push(id); // no answer: not delivered as far as the MTA knows
                throw e;
              }
              if (reply.startsWith('250')) acked.set(id, mail(id));
              else lmtpQueue.push(id); // 4xx: the MTA keeps it and tries again
            }
            c.close();
          } catch {
            failures++;
            c.destroy();
          }
        }
      };

      const imapSender = async () => {
        for (;;) {
          if (!imapQueue.length) return;
          let c: RawClient;
          try {
            c = await RawClient.greeted(srv!.imap, 'a');
            c.commandTimeoutMs = 5000;
            if (!/OK/.test(await c.tagged('LOGIN crash pw'))) throw new Error('login');
          } catch {
            failures++;
            await sleep(50);
            continue;
          }
          try {
            while (imapQueue.length) {
              const id = imapQueue.shift()!;
              let answer: string;
              try {
                answer = await c.tagged('APPEND INBOX', mail(id));
              } catch (e) {
                imapQueue.push(id);
                throw e;
              }
              if (/^a\d+ OK/.test(answer)) acked.set(id, mail(id));
              else imapQueue.push(id);
            }
            c.close();
          } catch {
            failures++;
            c.close();
          }
        }
      };

      const killer = async () => {
        for (let k = 0; k < KILLS; k++) {
          // a random moment while the load runs: 0.4 to 2 s after the (re)start
          await sleep(400 + Math.floor(rnd() * 1600));
          killing = true;
          if (lmtpQueue.length && imapQueue.length) underLoad++;
          srv!.proc.kill('SIGKILL');
          await new Promise((r) => srv!.proc.once('exit', r));
          srv = await startServer(dataDir, sets);
          killing = false;
        }
      };

      await Promise.all([
        killer(),
        ...Array.from({ length: LMTP_CONNECTIONS }, lmtpSender),
        ...Array.from({ length: IMAP_CONNECTIONS }, imapSender),
      ]);
      // senders that ran dry while the last restart was on may have left work queued
      while (killing || lmtpQueue.length || imapQueue.length) {
        await Promise.all([lmtpSender(), imapSender()]);
        await sleep(10);
      }
      expect(acked.size).toBe(DELIVERIES + APPENDS);
      expect(underLoad).toBe(KILLS); // every kill hit the load in the middle
      expect(failures).toBeGreaterThan(0);

      // every acknowledged mail is there with its bytes (LMTP prepends its trace headers)
      const c = await RawClient.greeted(srv.imap, 'v');
      c.commandTimeoutMs = 60000;
      await c.tagged('LOGIN crash pw');
      await c.tagged('SELECT INBOX');
      const seen = new Map<string, number>();
      c.send('v9 FETCH 1:* (BODY.PEEK[])\r\n');
      for (;;) {
        const line = await c.line(/^(\* \d+ FETCH \(BODY\[\] \{\d+\}|v9 (OK|NO|BAD))/, 60000);
        const m = /\{(\d+)\}$/.exec(line);
        if (!m) {
          expect(line).toMatch(/OK/);
          break;
        }
        const parts: Buffer[] = [];
        await c.readLiteral(Number(m[1]), (b) => parts.push(Buffer.from(b)));
        const text = Buffer.concat(parts).toString('latin1');
        const id = /^Subject: (\S+)\r$/m.exec(text)?.[1] ?? '?';
        expect(text.endsWith(acked.get(id) ?? `no such mail ${id}`)).toBe(true);
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      c.close();
      expect([...acked.keys()].filter((id) => !seen.has(id))).toEqual([]);

      // the store: no entry without its object; the crashes' orphans found, repaired, then nothing
      const first = await rmb('check', 'crash', '--grace-ms', '0', '--json');
      const counts = JSON.parse(first.out)[0].counts as Record<string, number>;
      expect({ missingMail: counts.missingMail, counters: counts.counters }).toEqual({ missingMail: 0, counters: 0 });
      const repaired = await rmb('check', 'crash', '--grace-ms', '0', '--repair', '--json');
      expect(repaired.code).toBe(0);
      const again = await rmb('check', 'crash', '--grace-ms', '0', '--json');
      expect(again.code).toBe(0);
      expect(JSON.parse(again.out)[0].defects).toEqual([]);
      // for the record: what the crashes left behind
      process.stdout.write(
        `crash campaign (${backend}): ${JSON.stringify(counts)}, ` +
          `duplicates ${[...seen.values()].filter((n) => n > 1).length}\n`,
      );
    },
    600000,
  );
}

describe('crash campaign on the embedded store', () => campaign('embedded'));
cephSuite('crash campaign on Ceph', () => campaign('librados'));
