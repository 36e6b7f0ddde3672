// Jest reporter: names, loudly and after everything else, each suite that did not run because an
// outside part was missing (a Ceph cluster, Dovecot, a real client), and how to get it. Suites
// report their skip through the file named by RMB_SKIP_LOG (see outsideSuite in
// packages/rados/testing/index.ts); this reporter creates it before any test worker starts.
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');

class SkipBanner {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'rmb-skips-'));
    process.env.RMB_SKIP_LOG = join(this.dir, 'skips.jsonl');
  }

  onRunComplete() {
    let lines = [];
    try {
      lines = readFileSync(process.env.RMB_SKIP_LOG, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    } catch {
      /* nothing was skipped */
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (!lines.length) return;
    const byPart = new Map();
    for (const l of lines) {
      if (!byPart.has(l.part)) byPart.set(l.part, { howTo: l.howTo, suites: [] });
      byPart.get(l.part).suites.push(l.suite);
    }
    const bar = '*'.repeat(100);
    let out = `\n${bar}\n*** ${lines.length} SUITE(S) DID NOT RUN: an outside part is missing on this machine.\n`;
    for (const [part, { howTo, suites }] of byPart) {
      out += `***\n*** missing ${part}:\n`;
      for (const s of suites) out += `***   - ${s}\n`;
      out += `***   to run them: ${howTo}\n`;
    }
    out += '***\n*** .ci/run installs every part and requires these suites (RMB_*_REQUIRED=1).\n' + `${bar}\n`;
    process.stderr.write(out);
  }
}
module.exports = SkipBanner;
