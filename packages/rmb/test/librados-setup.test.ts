/**
 * Issue 3, build points 2 and 4: without librados the install step still succeeds and says what
 * is missing; choosing the librados backend without the addon, or with a wrong ceph.conf, makes
 * `rmb serve` exit with one clear line instead of starting. Runs everywhere (no Ceph needed).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, newDataDir, repoRoot } from './harness.js';

const serve = (sets: string[], env: Record<string, string> = {}) =>
  spawnSync(
    process.execPath,
    [
      cli,
      'serve',
      '-s',
      `dataDir=${newDataDir({})}`,
      '-s',
      'imap.port=0',
      '-s',
      'imap.tlsPort=null',
      '-s',
      'lmtp.port=0',
      ...sets.flatMap((s) => ['-s', s]),
    ],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000 },
  );

test('the addon build step succeeds without librados headers and says what to install', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'packages/rados/native/build.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, RADOS_INCLUDE: '/nonexistent' },
  });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/librados backend is not built.*apt-get install librados-dev/);
});

test('store.backend=librados without the addon: exit 1 with one line naming what to install', () => {
  const r = serve(['store.backend=librados'], { RMB_RADOS_ADDON: '/nonexistent/rados_addon.node' });
  expect(r.status).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^rmb: store\.backend librados: the librados backend is not available.*install Debian's librados-dev/,
  );
});

test('store.backend=librados with an unreadable ceph.conf: exit 1 with one line saying so', () => {
  const r = serve(['store.backend=librados', 'store.ceph.conf=/nonexistent/ceph.conf']);
  expect(r.status).toBe(1);
  // (without the addon on this machine, the line names the missing addon instead)
  expect(r.stderr.trim().split('\n')).toEqual([
    expect.stringMatching(
      new RegExp(
        '^rmb: store\\.backend librados: (cannot connect to Ceph \\(conf /nonexistent/ceph\\.conf.*No such file|' +
          'the librados backend is not available)',
      ),
    ),
  ]);
});
