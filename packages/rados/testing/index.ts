/**
 * Test support shared by every package's suites (import from "@rmb/rados/testing"; uses Jest's
 * globals, so only test code may import it).
 *
 * Gates for suites that need an outside part (a real Ceph cluster, Dovecot, a mail client):
 * without it the suite is skipped loudly and named in the banner after the run; with its
 * RMB_*_REQUIRED=1 (set by .ci/run) a missing part fails instead. Also: the test corpus.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterWrapper, IOCTX_OPS, type Cluster, type IoCtx, type LibradosConfig } from '../src/index.js';

/**
 * The Ceph cluster named by the environment, for test suites and tools: RMB_CEPH_CONF (path of
 * ceph.conf; required), RMB_CEPH_CLIENT (default client.admin), RMB_CEPH_POOL (default "mail").
 * Returns undefined when RMB_CEPH_CONF is not set. `scripts/ceph-local.sh start` prints these.
 */
export function cephFromEnv(env: NodeJS.ProcessEnv = process.env): (LibradosConfig & { pool: string }) | undefined {
  if (!env.RMB_CEPH_CONF) return undefined;
  return {
    backend: 'librados',
    conf: env.RMB_CEPH_CONF,
    client: env.RMB_CEPH_CLIENT || 'client.admin',
    pool: env.RMB_CEPH_POOL || 'mail',
  };
}

/** The repository's root directory (this file is packages/rados/dist/testing/index.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** The test corpus of real-world mails kept in the repository (testdata/corpus, see its SOURCES.md). */
export const corpusDir = join(repoRoot, 'testdata', 'corpus');

/** Every .eml of the test corpus, sorted by path (relative to corpusDir). Throws if the corpus is missing. */
export function corpusFiles(): { path: string; data: Buffer }[] {
  if (!existsSync(corpusDir)) throw new Error(`test corpus not found at ${corpusDir}`);
  return readdirSync(corpusDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => ({ path: f, data: readFileSync(join(corpusDir, f)) }));
}

/** An outside part a suite needs: a Ceph cluster, Dovecot, a mail client, a load tool. */
export interface OutsidePart {
  /** What it is, for the banner ("Ceph cluster (RMB_CEPH_CONF)", "mbsync (Debian isync)"). */
  part: string;
  /** Whether it is there now. */
  present: () => boolean;
  /** Environment variable that, set to 1, makes its absence a failure (.ci/run sets them all). */
  requiredBy: string;
  /** How to get it. */
  howTo: string;
}

/**
 * Register `fn` as describe(name) when `need` is present. Otherwise nothing of `fn` runs (not even
 * its definitions, so a suite may read the part's settings while it is defined): with
 * `need.requiredBy`=1 the suite is one failing test; else one skipped test, a loud warning, and a
 * line for the banner that the jest reporter (scripts/jest-skip-banner.cjs) prints after the run.
 */
export function outsideSuite(name: string, need: OutsidePart, fn: () => void): void {
  if (need.present()) {
    describe(name, fn);
    return;
  }
  if (process.env[need.requiredBy] === '1') {
    describe(name, () => {
      test(`${need.part} is available`, () => {
        throw new Error(`${need.requiredBy}=1 but ${need.part} is missing: ${need.howTo}`);
      });
    });
    return;
  }
  console.warn(`*** SUITE NOT RUN: "${name}" needs ${need.part}. ${need.howTo}`);
  const log = process.env.RMB_SKIP_LOG;
  if (log) appendFileSync(log, `${JSON.stringify({ suite: name, part: need.part, howTo: need.howTo })}\n`);
  describe(name, () => {
    // skipped on purpose: the outside part is missing on this machine, which the warning above and
    // the banner after the run say; .ci/run installs it and sets need.requiredBy, so it runs there
    test.skip(`needs ${need.part}`, () => undefined);
  });
}

/** The real Ceph cluster of RMB_CEPH_CONF (scripts/ceph-local.sh starts one). */
export const CEPH: OutsidePart = {
  part: 'a Ceph cluster (RMB_CEPH_CONF)',
  present: () => cephFromEnv() !== undefined,
  requiredBy: 'RMB_CEPH_REQUIRED',
  howTo:
    'Debian: apt-get install ceph-mon ceph-osd ceph-common librados-dev, npm ci, then ' +
    'eval "$(scripts/ceph-local.sh start /tmp/rmb-ceph)" && npm test',
};

/** Register `fn` as describe(name) when a Ceph cluster is configured (see outsideSuite). */
export function cephSuite(name: string, fn: () => void): void {
  outsideSuite(name, CEPH, fn);
}

/** Methods of IoCtx that are one RADOS operation each. */
const OPS = IOCTX_OPS;

/** One operation seen by a SteppedCluster: IoCtx method and object. */
export interface SteppedOp {
  method: string;
  oid: string;
}

/**
 * A Cluster wrapper for counting round trips (cost-model tests): every IoCtx operation is held
 * until the test releases the whole batch of operations issued so far as one "wave". Operations
 * released together overlap; an operation issued only after a wave completed depends on it. So
 * the number of waves before a reply is the number of serial round trips on its path, whatever
 * the backend's speed.
 */
export class SteppedCluster extends ClusterWrapper {
  private held: { op: SteppedOp; run: () => Promise<void> }[] = [];
  /** While false (set-up), operations run at once and are not counted. */
  holding = false;
  private arrived?: () => void;
  constructor(inner: Cluster) {
    super(inner);
  }

  /** Operations issued and not yet released. */
  get pending(): number {
    return this.held.length;
  }

  /** Resolves when at least one operation is held, or after `ms` (then false). */
  waitForOps(ms: number): Promise<boolean> {
    if (this.held.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.arrived = undefined;
        resolve(false);
      }, ms);
      this.arrived = () => {
        clearTimeout(t);
        this.arrived = undefined;
        resolve(true);
      };
    });
  }

  /** Release every held operation as one wave; resolves with them once all completed. */
  async releaseWave(): Promise<SteppedOp[]> {
    const wave = this.held.splice(0);
    await Promise.all(wave.map((w) => w.run()));
    await new Promise((r) => setImmediate(r)); // let the callers' continuations run
    return wave.map((w) => w.op);
  }

  protected wrap(io: IoCtx): IoCtx {
    return new Proxy(io, {
      get: (target, prop, recv) => {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop === 'withNamespace') return (ns: string) => this.wrap(target.withNamespace(ns));
        if (typeof prop !== 'string' || !OPS.has(prop) || typeof v !== 'function') return v;
        if (!this.holding) return v;
        return (...args: unknown[]) =>
          new Promise((resolve, reject) => {
            this.held.push({
              op: { method: prop, oid: String(args[0] ?? '') },
              run: () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args).then(resolve, reject),
            });
            this.arrived?.();
          });
      },
    });
  }
}

/**
 * A seeded pseudo-random generator (mulberry32) for reproducible fuzz tests: returns numbers in
 * [0, 1). The same seed gives the same sequence on every machine.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
