/** Pure protocol layer: reader (literals, limits), tokenizer, sequence sets, FETCH/SEARCH parsers, UTF-7. */
import { CommandReader, type ReaderEvent } from '../src/protocol/reader.js';
import { tokenize, ParseError } from '../src/protocol/tokens.js';
import { absentRanges, parseSeqSet, inSet, rangesString, toSeqString } from '../src/protocol/sequence.js';
import { parseFetchItems } from '../src/protocol/fetch.js';
import { parseSearch } from '../src/protocol/search.js';
import { decodeMailboxName, encodeMailboxName, InvalidMutf7 } from '../src/protocol/utf7.js';
import { isLoopback } from '../src/server/session.js';
import { ScramError, ScramServer, scramCredentials } from '../src/protocol/scram.js';

const limits = { maxLineBytes: 100, maxLiteralBytes: 50, maxCommandBytes: 80 };
const feed = (r: CommandReader, ...chunks: string[]): ReaderEvent[] => chunks.flatMap((c) => r.push(Buffer.from(c)));

test('reader: synchronising literal asks for continuation, keeps bytes exact, split across chunks', () => {
  const r = new CommandReader(limits);
  const ev = feed(r, 'a1 APPEND INBOX {5}\r\n');
  expect(ev).toEqual([{ type: 'continue', size: 5 }]);
  const ev2 = feed(r, 'he', 'l\r\n', ')\r\n');
  expect(ev2.length).toBe(1);
  const cmd = (ev2[0] as { cmd: { parts: string[]; literals: Buffer[] } }).cmd;
  expect(cmd.literals[0].toString('latin1')).toBe('hel\r\n');
  expect(cmd.parts).toEqual(['a1 APPEND INBOX ', ')']);
});

test('reader: LITERAL+ needs no continuation; oversized literals are refused before +, non-sync ones skipped', () => {
  const r = new CommandReader(limits);
  expect(feed(r, 'a1 X {3+}\r\nabc\r\n').map((e) => e.type)).toEqual(['command']);
  const big = feed(r, 'a2 APPEND INBOX {51}\r\n');
  expect(big).toEqual([
    { type: 'error', kind: 'literal-too-big', tag: 'a2', message: expect.stringMatching(/exceeds/) },
  ]);
  const skipped = feed(r, `a3 APPEND INBOX {60+}\r\n${'x'.repeat(60)}\r\n`, 'a4 NOOP\r\n');
  expect(skipped.map((e) => e.type)).toEqual(['error', 'command']);
  expect(feed(r, `a5 ${'y'.repeat(200)}\r\na6 NOOP\r\n`).map((e) => e.type)).toEqual(['error', 'command']);
});

test(
  'reader: a large APPEND literal is streamed as it arrives; other large literals are refused; ' +
    'parsing resumes after',
  () => {
    const r = new CommandReader({
      maxLineBytes: 100,
      maxLiteralBytes: 10_000,
      maxCommandBytes: 20_000,
      streamLiteralBytes: 10,
    });
    const start = feed(r, 'a1 APPEND INBOX (\\Seen) {25}\r\n');
    expect(start).toEqual([
      { type: 'stream-start', cmd: { parts: ['a1 APPEND INBOX (\\Seen) '], literals: [] }, size: 25 },
      { type: 'continue', size: 25 },
    ]);
    const data = feed(r, '0123456789', '0123456789ab', 'cde\r\na2 NOOP\r\n');
    expect(
      data
        .filter((e) => e.type === 'stream-data')
        .map((e) => (e as { chunk: Buffer }).chunk.toString())
        .join(''),
    ).toBe('0123456789'.repeat(2) + 'abcde');
    expect(data.map((e) => e.type)).toEqual(['stream-data', 'stream-data', 'stream-data', 'stream-end', 'command']);
    expect((data[4] as { cmd: { parts: string[] } }).cmd.parts).toEqual(['a2 NOOP']);
    const refused = feed(r, 'a3 SEARCH TEXT {11}\r\n');
    expect(refused).toEqual([
      { type: 'error', kind: 'literal-too-big', tag: 'a3', message: expect.stringMatching(/too big/) },
    ]);
    const plus = feed(r, 'a4 APPEND INBOX {12+}\r\nhello world!\r\n');
    expect(plus.map((e) => e.type)).toEqual(['stream-start', 'stream-data', 'stream-end']);
    expect(plus[2]).toEqual({ type: 'stream-end', rest: '' });
  },
);

test(
  'reader: in a MULTIAPPEND every message after a streamed one streams too (stream-next), any ' +
    'size; a later too-big one ends it and is skipped',
  () => {
    const r = new CommandReader({
      maxLineBytes: 100,
      maxLiteralBytes: 10_000,
      maxCommandBytes: 20_000,
      streamLiteralBytes: 10,
    });
    // the next message (non-synchronizing, small) is a stream of its own; then the command ends
    const multi = feed(r, 'm1 APPEND INBOX {12+}\r\nhello world!', ' (\\Seen) {9+}\r\nSubject: ', '\r\nm2 NOOP\r\n');
    expect(multi.map((e) => e.type)).toEqual([
      'stream-start',
      'stream-data',
      'stream-next',
      'stream-data',
      'stream-end',
      'command',
    ]);
    expect(multi[2]).toEqual({ type: 'stream-next', rest: ' (\\Seen) ', size: 9 });
    expect(multi[4]).toEqual({ type: 'stream-end', rest: '' });
    expect((multi[5] as { cmd: { parts: string[] } }).cmd.parts).toEqual(['m2 NOOP']);
    // synchronizing: "+" for the next message too
    const sync = feed(r, 'm3 APPEND INBOX {12}\r\n', 'hello world! {5}\r\n', 'abcde\r\nm4 NOOP\r\n');
    expect(sync.map((e) => e.type)).toEqual([
      'stream-start',
      'continue',
      'stream-data',
      'stream-next',
      'continue',
      'stream-data',
      'stream-end',
      'command',
    ]);
    // small messages first, then a streamed one: the collected ones go with stream-start
    const mixed = feed(r, 'm5 APPEND INBOX {3+}\r\nabc {12+}\r\n', 'hello world!\r\n');
    expect(mixed.map((e) => e.type)).toEqual(['stream-start', 'stream-data', 'stream-end']);
    expect((mixed[0] as { cmd: { parts: string[]; literals: Buffer[] } }).cmd.literals.map(String)).toEqual(['abc']);
    // a later message above maxLiteralBytes: stream-end with that rest, and its bytes are skipped
    const big = feed(r, 'm6 APPEND INBOX {12+}\r\nhello world! {20000+}\r\n', 'y'.repeat(20000), '\r\nm7 NOOP\r\n');
    expect(big.map((e) => e.type)).toEqual(['stream-start', 'stream-data', 'stream-end', 'command']);
    expect((big[3] as { cmd: { parts: string[] } }).cmd.parts).toEqual(['m7 NOOP']);
    // a refused (too big) non-synchronizing literal: the later literals of its command are skipped too
    const refused = feed(
      r,
      'm8 APPEND INBOX {3+}\r\nabc {20000+}\r\n',
      'y'.repeat(20000),
      ' {3+}\r\nxyz\r\nm9 NOOP\r\n',
    );
    expect(refused.map((e) => e.type)).toEqual(['error', 'command']);
    expect((refused[1] as { cmd: { parts: string[] } }).cmd.parts).toEqual(['m9 NOOP']);
  },
);

test('tokenizer: atoms, quoted strings with escapes, nested lists, sections kept whole, errors carry the tag', () => {
  const c = tokenize({
    parts: ['t1 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>) "a \\"q\\" \\\\"'],
    literals: [],
  });
  expect(c.tag).toBe('t1');
  expect(c.name).toBe('FETCH');
  expect(c.args[1]).toEqual({
    type: 'list',
    value: [
      { type: 'atom', value: 'FLAGS' },
      { type: 'atom', value: 'BODY.PEEK[HEADER.FIELDS (From To)]<0.100>' },
    ],
  });
  expect((c.args[2] as { value: Buffer }).value.toString()).toBe('a "q" \\');
  expect(tokenize({ parts: ['t2 STORE 1 +FLAGS (\\Seen \\Deleted)'], literals: [] }).args[2]).toEqual({
    type: 'list',
    value: [
      { type: 'atom', value: '\\Seen' },
      { type: 'atom', value: '\\Deleted' },
    ],
  });
  for (const bad of ['t3 LIST "x', 't4 FETCH (a', 't5 X )', '']) {
    let e: unknown;
    try {
      tokenize({ parts: [bad], literals: [] });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ParseError);
  }
});

test('sequence sets, FETCH items and SEARCH keys parse; invalid ones throw', () => {
  const s = parseSeqSet('1:3,7,10:*') as { ranges: [number, number][] };
  expect([1, 3, 5, 7, 12].map((n) => inSet(s, n, 12))).toEqual([true, true, false, true, true]);
  expect(toSeqString([5, 1, 2, 3, 9])).toBe('1:3,5,9');
  expect(() => parseSeqSet('0')).toThrow(ParseError);
  expect(() => parseSeqSet('1:2:3')).toThrow(ParseError);
  const items = parseFetchItems({ type: 'atom', value: 'FULL' });
  expect(items.map((i) => (i.kind === 'simple' ? i.name : i.kind))).toEqual([
    'FLAGS',
    'INTERNALDATE',
    'RFC822.SIZE',
    'ENVELOPE',
    'BODY',
  ]);
  expect(() => parseFetchItems({ type: 'atom', value: 'BODY[1.MIMEX]' })).toThrow(ParseError);
  const p = parseSearch([
    { type: 'atom', value: 'CHARSET' },
    { type: 'atom', value: 'UTF-8' },
    { type: 'atom', value: 'OR' },
    { type: 'atom', value: 'UNSEEN' },
    { type: 'atom', value: 'LARGER' },
    { type: 'atom', value: '100' },
    { type: 'atom', value: 'SINCE' },
    { type: 'atom', value: '1-Feb-2020' },
  ]);
  expect(p.key).toEqual({
    k: 'and',
    keys: [
      { k: 'or', a: { k: 'flag', flag: '\\Seen', set: false }, b: { k: 'size', op: 'larger', n: 100 } },
      { k: 'date', which: 'internal', op: 'since', day: Date.UTC(2020, 1, 1) },
    ],
  });
  expect(() =>
    parseSearch([
      { type: 'atom', value: 'SINCE' },
      { type: 'atom', value: '31-Foo-2020' },
    ]),
  ).toThrow(ParseError);
});

test('mailbox names: modified UTF-7 round trip, invalid input refused; loopback detection', () => {
  expect(encodeMailboxName('Entwürfe', false)).toBe('Entw&APw-rfe');
  expect(decodeMailboxName('Entw&APw-rfe', false)).toBe('Entwürfe');
  expect(encodeMailboxName('☺!', false)).toBe('&Jjo-!');
  expect(encodeMailboxName('Entwürfe', true)).toBe('Entwürfe');
  expect(() => decodeMailboxName('bad&name', false)).toThrow(InvalidMutf7);
  expect(['127.0.0.1', '::1', '::ffff:127.0.0.1', '192.0.2.1', '10.0.0.1', 'junk'].map(isLoopback)).toEqual([
    true,
    true,
    true,
    false,
    false,
    false,
  ]);
});

test('SCRAM-SHA-256 server side reproduces the exchange of RFC 7677 §3 and refuses a wrong proof', () => {
  const creds = scramCredentials('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const s = new ScramServer('%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
  expect(s.clientFirst('n,,n=user,r=rOprNGfwEbeRWgbNEkqO')).toBe('user');
  expect(s.serverFirst(creds)).toBe(
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  );
  expect(
    s.clientFinal(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    ),
  ).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  const t = new ScramServer('%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
  t.clientFirst('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  t.serverFirst(creds);
  expect(
    t.clientFinal(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    ),
  ).toBeNull();
  expect(() => new ScramServer().clientFirst('p=tls-unique,,n=user,r=abc')).toThrow(ScramError);
  expect(() => new ScramServer().clientFirst('n,a=other,n=user,r=abc')).toThrow(ScramError);
});

test('absentRanges: the UIDs up to max not present, limited to a set (VANISHED without a log)', () => {
  expect(absentRanges([2, 3, 7], 9)).toEqual([
    [1, 1],
    [4, 6],
    [8, 9],
  ]);
  expect(absentRanges([], 3)).toEqual([[1, 3]]);
  expect(absentRanges([1, 2, 3], 3)).toEqual([]);
  expect(rangesString(absentRanges([2, 3, 7], 9, [[5, Infinity]]))).toBe('5:6,8:9');
  expect(
    rangesString(
      absentRanges([2, 3, 7], 9, [
        [Infinity, 4],
        [1, 1],
      ]),
    ),
  ).toBe('1,4:6,8:9');
  expect(rangesString(absentRanges([5], 1_000_000, [[1, 10]]))).toBe('1:4,6:10');
});
