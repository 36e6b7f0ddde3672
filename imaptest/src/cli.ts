#!/usr/bin/env node
/**
 * `npm run imaptest -- --host H --port P [--user U --pass P] [--dir D] [script ...]`: play the
 * conformance scripts against a server and print one line per script; exit 1 on any failure.
 */
import { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScripts } from './runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const program = new Command('imaptest')
  .description('play imaptest-format conformance scripts against an IMAP server')
  .option('--host <host>', 'server address', '127.0.0.1')
  .requiredOption('--port <port>', 'IMAP port (plain, no TLS)')
  .option('--user <user>', 'login name', 'demo')
  .option('--pass <password>', 'password', 'demo')
  .option('--dir <dir>', 'scripts directory', resolve(here, '..', '..', 'scripts'))
  .option('--timeout <ms>', 'per-reply timeout in ms', '10000')
  .argument('[scripts...]', 'only these scripts')
  .action(
    async (
      only: string[],
      o: { host: string; port: string; user: string; pass: string; dir: string; timeout: string },
    ) => {
      const results = await runScripts({
        host: o.host,
        port: Number(o.port),
        user: o.user,
        pass: o.pass,
        dir: o.dir,
        timeoutMs: Number(o.timeout),
        only: only.length ? only : undefined,
      });
      for (const r of results) {
        process.stdout.write(`${r.status.toUpperCase().padEnd(4)} ${r.name}${r.reason ? `: ${r.reason}` : ''}\n`);
        if (r.status === 'fail' && r.referenceDiffers.length)
          process.stdout.write(`     (script notes: ${r.referenceDiffers.join('; ')})\n`);
      }
      const n = (s: string) => results.filter((r) => r.status === s).length;
      process.stdout.write(`\n${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped of ${results.length}\n`);
      process.exitCode = n('fail') ? 1 : 0;
    },
  );
await program.parseAsync();
