import { parseContentType, parseDisposition } from '../src/mime-params.js';

describe('Content-Type parameters as BODYSTRUCTURE reports them (RFC 2045 §5.1, RFC 2231)', () => {
  test('type, subtype and parameters, quoted strings unquoted, comments and folding skipped', () => {
    expect(parseContentType('Text/HTML; charset="utf-8"')).toEqual({
      type: 'text',
      subtype: 'html',
      params: [['charset', 'utf-8']],
    });
    expect(parseContentType(' text (a comment) / plain ;\r\n\tcharset = us-ascii (c) ; format=flowed')).toEqual({
      type: 'text',
      subtype: 'plain',
      params: [
        ['charset', 'us-ascii'],
        ['format', 'flowed'],
      ],
    });
    expect(parseContentType('text/plain; name="a \\"quoted\\" \\\\ name"')?.params).toEqual([
      ['name', 'a "quoted" \\ name'],
    ]);
  });

  test('an unquoted value ends at white space or a tspecial; the rest up to the next ";" is dropped', () => {
    expect(parseContentType('text/plain; name=This is a test.txt; charset=x')?.params).toEqual([
      ['name', 'This'],
      ['charset', 'x'],
    ]);
    expect(parseContentType('application/pdf; name=Invoice_(302).pdf')?.params).toEqual([['name', 'Invoice_']]);
    expect(parseContentType('text/calendar; method=text/calendar')?.params).toEqual([['method', 'text']]);
    expect(parseContentType('multipart/alternative; boundary=----=_NextPart_000')?.params).toEqual([
      ['boundary', '----'],
    ]);
  });

  test('broken parameters are skipped: no value, no "=", an unclosed quote', () => {
    expect(parseContentType('text/html;iso-8859-1')?.params).toEqual([]);
    expect(parseContentType('text/html; charset="UTF-8')?.params).toEqual([]);
    expect(parseContentType('text/html; a; charset=x')?.params).toEqual([['charset', 'x']]);
    expect(parseContentType('text/html; name=')?.params).toEqual([['name', '']]);
    expect(parseContentType('text/plain; name==?utf-8?B?w6k=?=; x=y')?.params).toEqual([
      ['name', '=?utf-8?B?w6k=?='],
      ['x', 'y'],
    ]);
  });

  test('repeated parameters are kept as written', () => {
    expect(parseContentType('application/pdf; name="a.pdf"; name="a.pdf"')?.params).toEqual([
      ['name', 'a.pdf'],
      ['name', 'a.pdf'],
    ]);
  });

  test('RFC 2231: continuations are joined; encoded values stay encoded under "name*"', () => {
    expect(parseContentType("application/x-stuff; title*=us-ascii'en-us'This%20is")?.params).toEqual([
      ['title*', "us-ascii'en-us'This%20is"],
    ]);
    expect(
      parseContentType('message/external-body; URL*0="ftp://"; URL*1="cs.utk.edu/pub"; access-type=URL')?.params,
    ).toEqual([
      ['access-type', 'URL'],
      ['url', 'ftp://cs.utk.edu/pub'],
    ]);
    expect(
      parseContentType(
        'application/x-stuff; title*1*=%2A%2A%2Afun; title*0*=us-ascii\'en\'This%20is; title*2="is 100%"',
      )?.params,
    ).toEqual([['title*', "us-ascii'en'This%20is%2A%2A%2Afunis 100%25"]]);
    // a gap in the indexes: the pieces are passed on one by one
    expect(parseContentType('text/plain; name*0=a; name*2=c')?.params).toEqual([
      ['name*0', 'a'],
      ['name*2', 'c'],
    ]);
  });

  test('an invalid Content-Type is null (the RFC 2045 §5.2 default applies)', () => {
    for (const v of [
      '',
      'text',
      'text/',
      '/plain',
      'application/pdf name="x.pdf"',
      'text/plain/html',
      'text/plain (unclosed',
      'a b/c',
    ]) {
      expect(parseContentType(v)).toBeNull();
    }
  });
});

describe('Content-Disposition (RFC 2183 §2)', () => {
  test('type as written and parameters', () => {
    expect(parseDisposition('attachment; filename="a b.pdf"; size=12')).toEqual({
      type: 'attachment',
      params: [
        ['filename', 'a b.pdf'],
        ['size', '12'],
      ],
    });
    expect(parseDisposition('attachment; filename=attach/01')).toEqual({
      type: 'attachment',
      params: [['filename', 'attach']],
    });
  });

  test('a header without a usable type still counts, with an empty type', () => {
    expect(parseDisposition('')).toEqual({ type: '', params: [] });
    expect(parseDisposition('=?utf-8?Q?invalid?=')).toEqual({ type: '', params: [] });
  });
});
