/**
 * Issue 4, C1: every conformance script in imaptest/scripts against `rmb serve` (embedded store,
 * and Ceph when configured), and against a reference Dovecot 2.3, whose failures must be
 * documented in the script (`reference-differs:` with the RFC section) and whose skips may only
 * be capabilities Dovecot 2.3 does not have.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cephSuite } from '@rmb/rados/testing';
import { dovecotSuite, newDataDir, startDovecot, startServer, storeSets, type Backend } from '@rmb/rmb/testing';
import { runScripts, scriptNames, type ScriptResult } from '../src/runner.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');


function summary(results: ScriptResult[]): string {
  return results.filter((r) => r.status !== 'pass').map((r) => `${r.status} ${r.name}: ${r.reason}`).join('\n');
}

function againstRmb(backend: Backend) {
  test(`all ${scriptNames(dir).length} scripts pass against rmb (${backend}), none skipped`, async () => {
    // the quota Dovecot's --full set-up has too (scripts/quota)
    const server = await startServer(newDataDir({ tester: 'secret' }), [...storeSets(backend), 'quota.storageBytes=1073741824', 'quota.messages=100000']);
    try {
      const results = await runScripts({ host: '127.0.0.1', port: server.imap, user: 'tester', pass: 'secret', dir });
      expect(summary(results)).toBe('');
      expect(results.length).toBeGreaterThan(0);
    } finally { await server.stop(); }
  }, 300000);
}

describe('imaptest scripts, rmb on the embedded store', () => againstRmb('embedded'));
cephSuite('imaptest scripts, rmb on Ceph', () => againstRmb('librados'));

dovecotSuite('imaptest scripts against the reference Dovecot', () => {
  test('every script passes against Dovecot 2.3, except documented RFC-allowed differences and capabilities Dovecot lacks', async () => {
    const dovecot = await startDovecot({ tester: 'secret' });
    try {
      const results = await runScripts({ host: '127.0.0.1', port: dovecot.imap, user: 'tester', pass: 'secret', dir });
      const unexplained = results.filter((r) => (r.status === 'fail' && !r.referenceDiffers.length) || (r.status === 'skip' && !/^server lacks /.test(r.reason ?? '')));
      expect(summary(unexplained)).toBe('');
      // what was not compared, for the log
      const notes = results.filter((r) => r.status !== 'pass').map((r) => `${r.name}: ${r.status} (${r.status === 'skip' ? r.reason : r.referenceDiffers.join('; ')})`);
      console.log(`imaptest vs Dovecot: ${results.filter((r) => r.status === 'pass').length}/${results.length} pass\n${notes.join('\n')}`);
      // a script documented as differing must really differ (else the note is stale)
      const stale = results.filter((r) => r.status === 'pass' && r.referenceDiffers.length).map((r) => r.name);
      expect(stale).toEqual([]);
    } finally { await dovecot.stop(); }
  }, 300000);
});
