/** B2: the same end-to-end suite with rmb on a real Ceph cluster (librados backend). */
import { cephSuite } from '@rmb/rados/testing';
import { corpusSuite } from './e2e-corpus-suite.js';

cephSuite('rmb on Ceph', () => corpusSuite('librados'));
