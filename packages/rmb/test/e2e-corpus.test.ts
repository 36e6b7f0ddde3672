/** A2: LMTP in, IMAP out, restart, with rmb on the embedded store. */
import { corpusSuite } from './e2e-corpus-suite.js';

corpusSuite('embedded');
