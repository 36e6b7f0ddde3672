/**
 * Issue 15, O7: after a workload, the Prometheus endpoint's counters equal what the test did:
 * IMAP commands by name and result (OK, NO, BAD), LMTP recipients by result (250, and 4xx from a
 * quota), the sessions open by state, RADOS writes and bytes; `/health` and `/ready` answer.
 * `rmb serve` on the embedded store with `metrics.port=0`.
 */
import { rmSync } from 'node:fs';
import { get } from 'node:http';
import { newDataDir, RawClient, startServer, type ServerChild } from './harness.js';
import { LmtpClient } from './lmtp-client.js';

let dataDir: string;
let srv: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ m: 'pw' });
  srv = await startServer(dataDir, ['metrics.port=0', 'quota.messages=3']);
}, 60000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function fetchText(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: srv.metrics, path }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    }).on('error', reject);
  });
}

/** The value of sample `name{labels}` (labels in any order), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (
      Object.entries(labels).every(([k, v]) => got[k] === v) &&
      Object.keys(got).length === Object.keys(labels).length
    )
      return Number(m[3]);
  }
  return 0;
}

test('the endpoint counts what the workload did', async () => {
  expect(srv.metrics).toBeGreaterThan(0);
  expect((await fetchText('/health')).status).toBe(200);
  expect(await fetchText('/ready')).toEqual({ status: 200, text: 'ready\n' });
  const before = (await fetchText('/metrics')).text;

  // LMTP: 4 mails to a user with a quota of 3 messages: 3 × 250, then 452 4.2.2
  const l = await LmtpClient.open(srv.lmtp);
  const replies: string[] = [];
  for (let i = 0; i < 4; i++) replies.push(await l.send('a@example.com', 'm@localhost', `Subject: ${i}\r\n\r\nx\r\n`));
  l.close();
  expect(replies.map((r) => r.slice(0, 3))).toEqual(['250', '250', '250', '452']);

  // IMAP: 1 failed and 1 good LOGIN, SELECT, 5 NOOP, 2 FETCH, 1 unknown command, 1 command in the wrong state
  const c = await RawClient.greeted(srv.imap);
  expect(await c.tagged('LOGIN m wrong')).toMatch(/NO/);
  expect(await c.tagged('LOGIN m pw')).toMatch(/OK/);
  expect(await c.tagged('SELECT INBOX')).toMatch(/OK/);
  for (let i = 0; i < 5; i++) await c.tagged('NOOP');
  await c.tagged('FETCH 1:* (FLAGS)');
  await c.tagged('FETCH 1 (BODY.PEEK[])');
  expect(await c.tagged('FROBNICATE')).toMatch(/BAD/);
  expect(await c.tagged('AUTHENTICATE PLAIN')).toMatch(/BAD/);
  const during = (await fetchText('/metrics')).text;
  c.close();

  const diff = (name: string, labels: Record<string, string> = {}) =>
    sample(during, name, labels) - sample(before, name, labels);
  expect(diff('rmb_imap_commands_total', { command: 'LOGIN', result: 'NO' })).toBe(1);
  expect(diff('rmb_imap_commands_total', { command: 'LOGIN', result: 'OK' })).toBe(1);
  expect(diff('rmb_imap_commands_total', { command: 'SELECT', result: 'OK' })).toBe(1);
  expect(diff('rmb_imap_commands_total', { command: 'NOOP', result: 'OK' })).toBe(5);
  expect(diff('rmb_imap_commands_total', { command: 'FETCH', result: 'OK' })).toBe(2);
  expect(diff('rmb_imap_commands_total', { command: '(unknown)', result: 'BAD' })).toBe(1);
  expect(diff('rmb_imap_commands_total', { command: 'AUTHENTICATE', result: 'BAD' })).toBe(1);
  expect(diff('rmb_imap_command_seconds_count', { command: 'NOOP' })).toBe(5);
  expect(diff('rmb_lmtp_deliveries_total', { result: 'ok' })).toBe(3);
  expect(diff('rmb_lmtp_deliveries_total', { result: 'temporary' })).toBe(1);
  expect(diff('rmb_lmtp_delivery_seconds_count')).toBe(4);
  // the session was open and selected when scraped
  expect(sample(during, 'rmb_imap_sessions', { state: 'selected' })).toBe(1);
  // the three mails reached the store: at least their bytes written, in index commits
  expect(diff('rmb_rados_objects_written_total')).toBeGreaterThanOrEqual(3);
  expect(diff('rmb_rados_bytes_written_total')).toBeGreaterThanOrEqual(3 * 20);
  expect(diff('rmb_index_commits_total')).toBeGreaterThanOrEqual(3);
  expect(diff('rmb_rados_ops_total', { op: 'operate' })).toBeGreaterThan(0);
});
