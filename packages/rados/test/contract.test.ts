import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/index.js';
import { runContractSuite } from './contract-suite.js';

runContractSuite('memory', () => connect({ backend: 'memory' }));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
runContractSuite('embedded', () => {
  const d = mkdtempSync(join(tmpdir(), 'rmb-embedded-'));
  dirs.push(d);
  return connect({ backend: 'embedded', path: d });
});
