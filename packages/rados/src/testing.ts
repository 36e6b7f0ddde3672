/**
 * Test support shared by every package's suites (import from "@rmb/rados/testing"; uses Jest's
 * globals, so only test code may import it).
 *
 * Gate for suites that need a real Ceph cluster (RMB_CEPH_CONF, see scripts/ceph-local.sh).
 * Without one, the suite is registered as skipped and a loud notice is printed (Jest reports
 * the skipped tests, and the ceph-notice reporter repeats it after the run); with
 * RMB_CEPH_REQUIRED=1 (set by .ci/run) a missing cluster fails instead.
 */
import { cephFromEnv } from './index.js';

/** Register `fn` as describe(name) when a Ceph cluster is configured (see above). */
export function cephSuite(name: string, fn: () => void): void {
  if (cephFromEnv()) { describe(name, fn); return; }
  if (process.env.RMB_CEPH_REQUIRED === '1') {
    describe(name, () => {
      test('a Ceph cluster is configured', () => {
        throw new Error('RMB_CEPH_REQUIRED=1 but RMB_CEPH_CONF is not set: start one with scripts/ceph-local.sh');
      });
    });
    return;
  }
  console.warn(`*** CEPH SUITE NOT RUN: "${name}" needs a Ceph cluster. Run: eval "$(scripts/ceph-local.sh start /tmp/rmb-ceph)" && npm test`);
  describe.skip(name, fn);
}
