/**
 * Issue 4, C1: every conformance script in imaptest/scripts against `rmb serve` (embedded store,
 * and Ceph when configured), and against a reference Dovecot 2.3, whose failures must be
 * documented in the script (`reference-differs:` with the RFC section) and whose skips may only
 * be capabilities Dovecot 2.3 does not have.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL_NAMESPACES, connect as connectStore } from '@rmb/rados';
import { cephSuite } from '@rmb/rados/testing';
import { dovecotSuite, newDataDir, startDovecot, startServer, storeSets, type Backend } from '@rmb/rmb/testing';
import { readFileSync } from 'node:fs';
import { Connection } from '../src/client.js';
import { parseScript, runScripts, scriptNames, type ScriptResult } from '../src/runner.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');

function summary(results: ScriptResult[]): string {
  return results
    .filter((r) => r.status !== 'pass')
    .map((r) => `${r.status} ${r.name}: ${r.reason}`)
    .join('\n');
}

/** `sets`: more settings for the server, named in the test's title when given. */
function againstRmb(backend: Backend, sets: string[] = []) {
  const more = sets.length ? `, ${sets.join(' ')}` : '';
  test(`all ${scriptNames(dir).length} scripts pass against rmb (${backend}${more}), none skipped`, async () => {
    // the quota Dovecot's --full set-up has too (scripts/quota)
    const server = await startServer(newDataDir({ tester: 'secret' }), [
      ...storeSets(backend),
      'quota.storageBytes=1073741824',
      'quota.messages=100000',
      ...sets,
    ]);
    try {
      const sharded = sets.some((x) => x.startsWith('store.indexShardEntries='));
      const results = await runScripts({
        host: '127.0.0.1',
        port: server.imap,
        user: 'tester',
        pass: 'secret',
        dir,
        keepMailboxes: sharded,
      });
      expect(summary(results)).toBe('');
      expect(results.length).toBeGreaterThan(0);
      const shards = sets.find((x) => x.startsWith('store.userShards='));
      if (shards) {
        // the directory the scripts' users went through really is sharded as set
        const store = await connectStore({ backend: 'embedded', path: join(server.dataDir, 'store') });
        const io = await store.ioCtx('mail');
        const got = await io.omapGetByKeys('userdir', ['shards']);
        await store.close();
        expect(got.get('shards')?.toString()).toBe(shards.split('=')[1]);
      }
      if (sharded) {
        // the scripts' mailboxes (kept after each script) really were sharded: shard objects
        // (i.<mailbox>.<range>.<random>) name closed UID ranges
        const store = await connectStore({ backend: 'embedded', path: join(server.dataDir, 'store') });
        const io = await store.ioCtx('mail', ALL_NAMESPACES);
        let shardObjects = 0;
        for (let cursor: string | undefined, first = true; first || cursor; first = false) {
          const page = await io.list(cursor, 1000);
          shardObjects += page.objects.filter((o) => /^i\.[^.]+\.\d+\.[0-9a-f]{12}$/.test(o.oid)).length;
          cursor = page.cursor;
        }
        await store.close();
        expect(shardObjects).toBeGreaterThan(2);
      }
    } finally {
      await server.stop();
    }
  }, 300000);
}

/** Advertised capabilities that no script can cover, and the test that does. */
const COVERED_ELSEWHERE: Record<string, string> = {
  STARTTLS: 'the runner speaks plain TCP; packages/rmb/test/e2e-mbsync.test.ts and e2e-protocol.test.ts use STARTTLS',
  LOGINDISABLED: 'needs a non-loopback client; packages/rmb/test/e2e-protocol.test.ts (auth.plaintextAuth=never)',
};

test(
  'every capability rmb advertises (before and after login) is required by some script, or ' +
    'covered by a named test',
  async () => {
    const server = await startServer(newDataDir({ tester: 'secret' }), [
      'quota.storageBytes=1073741824',
      'quota.messages=100000',
    ]);
    try {
      const c = await Connection.open('127.0.0.1', server.imap, 10000);
      const caps = new Set<string>();
      const grab = async (cmd: string) => {
        const from = c.untagged.length;
        await c.run(cmd);
        for (const r of c.untagged.slice(from))
          if (/^CAPABILITY /i.test(r.text))
            for (const x of r.text.split(' ').slice(1)) caps.add(x.toUpperCase().replace(/=\d+$/, ''));
      };
      await grab('CAPABILITY');
      await grab('LOGIN tester secret');
      await grab('CAPABILITY');
      c.close();
      const required = new Set(
        scriptNames(dir).flatMap((n) =>
          parseScript(n, readFileSync(join(dir, n), 'utf8')).capabilities.map((x) => x.toUpperCase()),
        ),
      );
      const uncovered = [...caps].filter((x) => !required.has(x) && !COVERED_ELSEWHERE[x]);
      expect(uncovered).toEqual([]);
      expect(caps.size).toBeGreaterThan(40);
    } finally {
      await server.stop();
    }
  },
  60000,
);

describe('imaptest scripts, rmb on the embedded store', () => againstRmb('embedded'));
// issue 14 S3: the user directory sharded over 2 objects and every mailbox index sharded in ranges of
// 3 UIDs, both set by config; and no idle mailbox kept in the index cache (every SELECT of a mailbox
// no session holds reads it whole)
describe('imaptest scripts, rmb with sharded indexes and user directory', () =>
  againstRmb('embedded', ['store.userShards=2', 'store.indexShardEntries=3', 'store.indexCacheMessages=0']));
cephSuite('imaptest scripts, rmb on Ceph', () => againstRmb('librados'));

dovecotSuite('imaptest scripts against the reference Dovecot', () => {
  test(
    'every script passes against Dovecot 2.3, except documented RFC-allowed differences and ' +
      'capabilities Dovecot lacks',
    async () => {
      const dovecot = await startDovecot({ tester: 'secret' });
      try {
        const results = await runScripts({
          host: '127.0.0.1',
          port: dovecot.imap,
          user: 'tester',
          pass: 'secret',
          dir,
        });
        const unexplained = results.filter(
          (r) =>
            (r.status === 'fail' && !r.referenceDiffers.length) ||
            (r.status === 'skip' && !/^server lacks /.test(r.reason ?? '')),
        );
        expect(summary(unexplained)).toBe('');
        // what was not compared, for the log
        const notes = results
          .filter((r) => r.status !== 'pass')
          .map((r) => `${r.name}: ${r.status} (${r.status === 'skip' ? r.reason : r.referenceDiffers.join('; ')})`);
        console.log(
          `imaptest vs Dovecot: ` +
            `${results.filter((r) => r.status === 'pass').length}/${results.length} pass\n${notes.join('\n')}`,
        );
        // a script documented as differing must really differ (else the note is stale)
        const stale = results.filter((r) => r.status === 'pass' && r.referenceDiffers.length).map((r) => r.name);
        expect(stale).toEqual([]);
      } finally {
        await dovecot.stop();
      }
    },
    300000,
  );
});
