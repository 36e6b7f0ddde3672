// Helpers shared by the benchmark scripts (scripts/bench-*.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Run `jobs` (functions returning promises) `n` at a time. */
export async function pool(jobs, n) {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < jobs.length) await jobs[i++]();
    }),
  );
}

/** The repository's test corpus (testdata/corpus/**\/*.eml), sorted by path, as Buffers. */
export function loadCorpus(root) {
  const dir = join(root, 'testdata', 'corpus');
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}
