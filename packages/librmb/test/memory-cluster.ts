/** Shared set-up of the librmb tests: a fresh memory cluster per test, and a small message. */
import { connect, type Cluster } from '@rmb/rados';

/** Register hooks that open a memory cluster before each test and close it after; returns its getter. */
export function memoryClusterPerTest(): () => Cluster {
  let cluster: Cluster | undefined;
  beforeEach(async () => {
    cluster = await connect({ backend: 'memory' });
  });
  afterEach(async () => {
    await cluster?.close();
  });
  return () => cluster!;
}

/** A minimal message with subject and body `s`. */
export const msg = (s: string): Buffer => Buffer.from(`Subject: ${s}\r\n\r\n${s}\r\n`);
