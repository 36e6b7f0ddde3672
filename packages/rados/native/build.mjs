// Builds the librados addon when librados is installed; otherwise says so and succeeds, so that
// `npm ci` works on machines without Ceph (the librados backend then refuses to start with one
// clear line). Uses npm's bundled node-gyp: `npx node-gyp` would try to download headers.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const header = process.env.RADOS_INCLUDE
  ? join(process.env.RADOS_INCLUDE, 'rados/librados.h')
  : '/usr/include/rados/librados.h';
if (!existsSync(header)) {
  console.log(
    `@rmb/rados: ${header} not found, the librados backend is not built ` +
      '(Debian: apt-get install librados-dev g++ make, then npm rebuild @rmb/rados)',
  );
  process.exit(0);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  '/usr/share/nodejs/npm/node_modules/node-gyp/bin/node-gyp.js',
].filter((p) => p && existsSync(p));
if (!candidates.length) {
  console.error('@rmb/rados: librados is installed but node-gyp (bundled with npm) was not found');
  process.exit(1);
}
// Node's own headers (Debian's nodejs ships them in /usr/include/node): no download needed.
const args = [candidates[0], 'rebuild'];
if (!process.env.npm_config_nodedir && existsSync(join(dirname(process.execPath), '../include/node/node_api.h'))) {
  args.push(`--nodedir=${join(dirname(process.execPath), '..')}`);
}
const r = spawnSync(process.execPath, args, { cwd: pkg, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('@rmb/rados: building the librados addon failed (needs g++ and make: apt-get install g++ make)');
  process.exit(r.status ?? 1);
}
