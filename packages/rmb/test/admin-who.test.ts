/**
 * Issue 15 item 1: `rmb who` lists the IMAP sessions of every server process and `rmb kick USER`
 * ends that user's sessions on all of them (doveadm who / kick). Two `rmb serve` instances on
 * one embedded store; the CLI is a third process.
 */
import { rmSync } from 'node:fs';
import { rmbOut, newDataDir, RawClient, startServer, type ServerChild } from './harness.js';

let dataDir: string;
let a: ServerChild;
let b: ServerChild;
beforeAll(async () => {
  dataDir = newDataDir({ kim: 'pw', lee: 'pw' });
  a = await startServer(dataDir);
  b = await startServer(dataDir);
}, 60000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const rmb = (...args: string[]) => rmbOut(dataDir, ...args);

test('who lists the sessions of both servers; kick ends one user everywhere', async () => {
  const open = async (s: ServerChild, user: string) => {
    const c = await RawClient.greeted(s.imap);
    expect(await c.tagged(`LOGIN ${user} pw`)).toMatch(/OK/);
    return c;
  };
  const kimA = await open(a, 'kim');
  const kimB = await open(b, 'kim');
  const lee = await open(b, 'lee');
  await kimB.tagged('SELECT INBOX');
  const rows = JSON.parse(await rmb('who', '--json')) as { user: string; state: string; node: string }[];
  expect(rows.map((r) => r.user)).toEqual(['kim', 'kim', 'lee']);
  expect(new Set(rows.map((r) => r.node)).size).toBe(2);
  expect(rows.map((r) => r.state).sort()).toEqual(['authenticated', 'authenticated', 'selected']);

  expect(await rmb('kick', 'kim')).toBe('kim: 2 session(s) ended, 0 left\n');
  for (const c of [kimA, kimB]) expect(await c.until(/^\* BYE .*\r\n/m)).toMatch(/administrator/);
  expect(await lee.tagged('NOOP')).toMatch(/OK/);
  const after = JSON.parse(await rmb('who', '--json')) as { user: string }[];
  expect(after.map((r) => r.user)).toEqual(['lee']);
  for (const c of [kimA, kimB, lee]) c.close();
});
