// Jest reporter: after the run, say loudly when the real-Ceph suites did not run and how to run
// them (scripts/ceph-local.sh); silent when RMB_CEPH_CONF names a cluster.
class CephNotice {
  onRunComplete() {
    if (process.env.RMB_CEPH_CONF) return;
    const line = '*'.repeat(78);
    process.stderr.write(`\n${line}\n*** The real-Ceph suites (librados contract, rmb on Ceph, two servers, faults)\n` +
      '*** did NOT run: RMB_CEPH_CONF is not set. To run them (Debian: apt-get install\n' +
      '*** ceph-mon ceph-osd ceph-common librados-dev, then npm ci):\n' +
      '***   eval "$(scripts/ceph-local.sh start /tmp/rmb-ceph)" && npm test; scripts/ceph-local.sh stop /tmp/rmb-ceph\n' +
      `*** .ci/run does exactly this.\n${line}\n`);
  }
}
module.exports = CephNotice;
