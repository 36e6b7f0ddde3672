/**
 * Issue 15 item 6: SIGHUP reloads the config file, the passwd file and the TLS certificate while
 * sessions keep running: a selected session goes on, a user added to the passwd file logs in, a
 * changed imap.* limit applies to new logins, new TLS connections get the new certificate, and a
 * changed setting that needs a restart is named on stderr.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'selfsigned';
import { PasswdFile } from '../src/passwd.js';
import { cli, newDataDir, RawClient, waitReady, type ServerChild } from './harness.js';

let dataDir: string;
let srv: ServerChild;
let stderr = '';
const conf = () => join(dataDir, 'rmb.yaml');

beforeAll(async () => {
  dataDir = newDataDir({ a: 'pw' });
  writeFileSync(conf(), 'imap:\n  maxAuthFailures: 3\nserverName: first\n');
  const args = [cli, 'serve', '-c', conf(), '-s', `dataDir=${dataDir}`, '-s', 'imap.port=0', '-s', 'imap.tlsPort=0'];
  args.push('-s', 'lmtp.port=0', '-s', 'log.level=warn', '-s', 'workers=1');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  srv = await waitReady(proc, dataDir);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to IMAPS gets. */
function certFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port: srv.imaps, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
  });
}

test('SIGHUP: passwd, certificate and live settings reload; the selected session goes on', async () => {
  const a = await RawClient.greeted(srv.imap, 'a');
  expect(await a.tagged('LOGIN a pw')).toMatch(/OK/);
  expect(await a.tagged('SELECT INBOX')).toMatch(/OK/);
  const oldCert = await certFingerprint();
  // a user appears; maxAuthFailures goes to 1; a new certificate; serverName (needs a restart)
  new PasswdFile(join(dataDir, 'passwd')).set('b', 'pw2');
  writeFileSync(conf(), 'imap:\n  maxAuthFailures: 1\nserverName: second\n');
  const pems = await generate([{ name: 'commonName', value: 'reloaded.example' }], { keySize: 2048 } as never);
  writeFileSync(join(dataDir, 'tls', 'key.pem'), pems.private);
  writeFileSync(join(dataDir, 'tls', 'cert.pem'), pems.cert);
  expect(readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8')).toBe(pems.cert);
  srv.proc.kill('SIGHUP');
  let cert = oldCert;
  for (let i = 0; i < 50 && cert === oldCert; i++) {
    await new Promise((r) => setTimeout(r, 100));
    cert = await certFingerprint();
  }
  expect(cert).not.toBe(oldCert);
  // the session selected before goes on
  expect(await a.tagged('NOOP')).toMatch(/^a\d+ OK/);
  expect(await a.tagged('UID FETCH 1:* (FLAGS)')).toMatch(/^a\d+ OK/);
  // the new user logs in
  const b = await RawClient.greeted(srv.imap, 'b');
  expect(await b.tagged('LOGIN b pw2')).toMatch(/OK/);
  b.close();
  // one failure now ends the connection (was 3)
  const c = await RawClient.greeted(srv.imap, 'c');
  let out = await c.command('LOGIN a wrong');
  // the BYE follows the tagged NO, perhaps in a later packet; with the old limit (3) none comes
  if (!/^\* BYE /m.test(out)) out += await c.until(/^\* BYE .*\r\n/m, 5000);
  expect(out).toMatch(/NO \[AUTHENTICATIONFAILED\]/);
  expect(out).toMatch(/\* BYE Too many authentication failures/);
  c.close();
  expect(stderr).toMatch(/restart is needed for: serverName/);
  a.close();
});
