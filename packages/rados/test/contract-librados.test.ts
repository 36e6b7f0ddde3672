/** B1: the unchanged contract suite on a real Ceph cluster (librados backend). */
import { cephFromEnv, connect } from '../src/index.js';
import { runContractSuite } from './contract-suite.js';
import { cephSuite } from '../src/testing.js';

const ceph = cephFromEnv();
cephSuite('librados contract', () => {
  runContractSuite('librados', () => connect(ceph!), ceph?.pool);
});
