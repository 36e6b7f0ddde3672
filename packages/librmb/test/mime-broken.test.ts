/**
 * How broken MIME and headers are read (ADR 0006): each case is one the Dovecot differential test
 * found in the shared corpus, reduced to a few lines, so that a regression shows here by name.
 */
import { findPart, parseMessage, type MimePart } from '../src/index.js';
import { cutAtSyntaxError } from '../src/address-list.js';

const crlf = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'), 'binary');
const shape = (p: MimePart): unknown => (p.children ? p.children.map(shape) : `${p.type}/${p.subtype}`);
const body = (buf: Buffer, p: MimePart | null) => (p ? buf.subarray(p.bodyStart, p.bodyEnd).toString('binary') : null);

describe('multipart delimiters', () => {
  test('a delimiter line goes to the longest boundary it starts with, even an outer one', () => {
    // boundary "a" is a prefix of "ab": the line "--ab" inside the inner multipart closes its part
    // and starts the next part of the outer one
    const m = crlf(
      'Content-Type: multipart/mixed; boundary="ab"\n\n--ab\nContent-Type: multipart/mixed; ' +
        'boundary="a"\n\n--ab\nContent-Type: text/plain\n\n--a\n\n',
    );
    expect(shape(parseMessage(m).root)).toEqual([['text/plain'], 'text/plain']);
  });

  test('a part whose header is cut by a delimiter has no body: its own boundary never applies', () => {
    const m = crlf(
      'Content-Type: multipart/mixed; boundary="a"\n\n--a\nContent-Type: multipart/mixed; ' +
        'boundary="ab"\nMIME-Version: 1.0\n--ab\nContent-Type: text/plain\n\n--ab--\n--a--\n',
    );
    expect(shape(parseMessage(m).root)).toEqual([['text/plain'], 'text/plain', 'text/plain']);
  });

  test('boundaries longer than 80 bytes are compared on their first 80', () => {
    const b = (n: number) => '1234567890'.repeat(9).slice(0, n);
    const m = crlf(
      `Content-Type: multipart/mixed; boundary="${b(82)}"\n\n--${b(82)}\nContent-Type: ` +
        `multipart/mixed; boundary="${b(80)}"\n\n--${b(80)}\n\n1\n--${b(82)}\n\n22\n`,
    );
    // every line starting with the first 80 bytes is the inner multipart's (innermost wins a tie)
    expect(shape(parseMessage(m).root)).toEqual([['text/plain', 'text/plain']]);
  });
});

describe('section numbers (RFC 3501 §6.4.5)', () => {
  test('part 1 of a message whose body is message/rfc822 is the whole encapsulated message', () => {
    const m = crlf('Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nContent-Type: text/plain\n\n1\n');
    const root = parseMessage(m).root;
    expect(body(m, findPart(root, [1]))).toBe(
      'Content-Type: message/rfc822\r\n\r\nContent-Type: text/plain\r\n\r\n1\r\n',
    );
    expect(body(m, findPart(root, [1, 1]))).toBe('Content-Type: text/plain\r\n\r\n1\r\n');
    expect(body(m, findPart(root, [1, 1, 1]))).toBe('1\r\n');
  });
});

describe('ENVELOPE strings and addresses (RFC 3501 §7.4.2)', () => {
  test('strings as written: trailing white space kept, except on the subject', () => {
    const e = parseMessage(
      crlf('Date: Wed, 15 Dec 2010 12:21:20 -0500 \nSubject: a subject \n \nFrom: a@b\n\nx\n'),
    ).envelope;
    expect(e.date).toBe('Wed, 15 Dec 2010 12:21:20 -0500 ');
    expect(e.subject).toBe('a subject');
  });

  test('an address list is read up to its first syntax error', () => {
    expect(cutAtSyntaxError('Bob <bob@x> Bobby <bobby@x>')).toBe('Bob <bob@x>');
    expect(cutAtSyntaxError('s@x, Mikel@Lindsaar <r@x>, t@x')).toBe('s@x, Mikel@Lindsaar');
    expect(cutAtSyntaxError('A <a@x>, "B, c" <b@x> (c), g: d@x, <e@x>;')).toBe(
      'A <a@x>, "B, c" <b@x> (c), g: d@x, <e@x>;',
    );
    const e = parseMessage(
      crlf('From: Bob Dunite <bob@extern> Bobby Dunite <bobby@extern>\nTo: s@x, Mikel@Lindsaar <r@x>, t@x\n\nx\n'),
    ).envelope;
    expect(e.from).toEqual([{ name: 'Bob Dunite', adl: null, mailbox: 'bob', host: 'extern' }]);
    expect(e.to).toEqual([
      { name: null, adl: null, mailbox: 's', host: 'x' },
      { name: null, adl: null, mailbox: 'Mikel', host: 'Lindsaar' },
    ]);
  });

  test('entries that are only comments are no addresses; a comment after an address is its name', () => {
    const e = parseMessage(
      crlf('From: (mailbox in US-ASCII)\nTo: unlisted-recipients:; (no To-header on input)\nCc: a@x (Alice)\n\nx\n'),
    ).envelope;
    expect(e.from).toBeNull();
    expect(e.to).toEqual([
      { name: null, adl: null, mailbox: 'unlisted-recipients', host: null },
      { name: null, adl: null, mailbox: null, host: null },
    ]);
    expect(e.cc).toEqual([{ name: 'Alice', adl: null, mailbox: 'a', host: 'x' }]);
  });
});
