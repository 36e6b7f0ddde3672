/** B1: the unchanged contract suite on a real Ceph cluster (librados backend). */
import { connect } from '../src/index.js';
import { cephFromEnv, cephSuite } from '../testing/index.js';
import { runContractSuite } from './contract-suite.js';

const ceph = cephFromEnv();
cephSuite('librados contract', () => {
  runContractSuite('librados', () => connect(ceph!), ceph?.pool);
});
