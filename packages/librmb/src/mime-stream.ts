/**
 * MIME structure of a message too large to hold in memory, computed while it streams past.
 *
 * `MessageScanner` sees every byte once and keeps only what the parser (mime.ts) looks at:
 * header blocks (the message header, and a header block after every line that starts with "--"
 * and after a header naming message/* or an empty one, which covers nested messages and
 * digests) and every line that starts with "--" (candidate multipart delimiters). Everything
 * else is dropped and remembered as gaps: where they are, how many LFs they hold and their last
 * four bytes. `SparseMessage` answers the parser's questions from that record, so
 * `parseSource(scanner.finish())` gives the same structure, offsets and line counts as parsing
 * the whole message (tested against every corpus message). Memory: the kept lines only, each
 * header block capped at `maxHeaderBlockBytes`.
 */
import type { MessageSource } from './mime.js';

interface Segment {
  off: number;
  data: Buffer;
}
const TAIL = 4;
interface Gap {
  start: number;
  end: number;
  lf: number;
  lastLf: number;
  tail: number[];
}

/** The sparse record of a streamed message (a MessageSource). */
export class SparseMessage implements MessageSource {
  constructor(
    readonly length: number,
    private readonly segs: Segment[],
    private readonly gaps: Gap[],
  ) {}

  private seg(i: number): Segment | undefined {
    let lo = 0;
    let hi = this.segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segs[mid];
      if (i < s.off) hi = mid - 1;
      else if (i >= s.off + s.data.length) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  at(i: number): number | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const s = this.seg(i);
    if (s) return s.data[i - s.off];
    const g = this.gaps.find((x) => i >= x.start && i < x.end);
    if (g && i >= g.end - g.tail.length) return g.tail[i - (g.end - g.tail.length)];
    return 0x58; // a dropped body byte: never one the parser tests for
  }

  indexOf(pat: Buffer, from: number): number {
    for (const s of this.segs) {
      if (s.off + s.data.length <= from) continue;
      const i = s.data.indexOf(pat, Math.max(0, from - s.off));
      if (i >= 0) return s.off + i;
    }
    return -1;
  }

  slice(s: number, e: number): Buffer {
    const out: Buffer[] = [];
    for (const g of this.segs) {
      const a = Math.max(s, g.off);
      const b = Math.min(e, g.off + g.data.length);
      if (a < b) out.push(g.data.subarray(a - g.off, b - g.off));
    }
    return Buffer.concat(out);
  }

  lfCount(s: number, e: number): number {
    let n = 0;
    for (const g of this.segs) {
      const a = Math.max(s, g.off);
      const b = Math.min(e, g.off + g.data.length);
      for (
        let i = a < b ? g.data.indexOf(0x0a, a - g.off) : -1;
        i >= 0 && g.off + i < b;
        i = g.data.indexOf(0x0a, i + 1)
      )
        n++;
    }
    for (const g of this.gaps) {
      if (g.end <= s || g.start >= e) continue;
      // gaps are whole lines; a range ends at most inside a gap's last line
      n += g.lf - (g.lastLf >= e ? 1 : 0);
    }
    return n;
  }
}

/** Options of the scanner. */
export interface ScannerOptions {
  /** Largest header block kept, in bytes (default 1 MiB); the rest of a longer one is dropped. */
  maxHeaderBlockBytes?: number;
  /** Longest "--" line kept, in bytes (default 1000: a delimiter line is at most ~80). */
  maxDelimiterLineBytes?: number;
}

/** Feed a message's bytes in order with push(); finish() gives its SparseMessage. */
export class MessageScanner {
  private readonly segs: Segment[] = [];
  private readonly gaps: Gap[] = [];
  private offset = 0;
  /** The current line: its start offset and the bytes kept of it so far (null: dropping). */
  private lineStart = 0;
  private line: Buffer[] = [];
  private lineLen = 0;
  private lineFirst: number[] = [];
  private inHeader = true;
  private headerBytes = 0;
  private headerBlock: Buffer[] = [];
  private gap: Gap | null = null;
  private readonly maxHeader: number;
  private readonly maxDelim: number;

  constructor(o: ScannerOptions = {}) {
    this.maxHeader = o.maxHeaderBlockBytes ?? 1 << 20;
    this.maxDelim = o.maxDelimiterLineBytes ?? 1000;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.addToLine(chunk.subarray(pos, end));
      if (nl >= 0) this.endLine();
      pos = end;
    }
  }

  private keepingLine(): boolean {
    if (this.inHeader) return this.headerBytes + this.lineLen <= this.maxHeader;
    if (this.lineFirst.length < 2) return true; // undecided yet
    return this.lineFirst[0] === 0x2d && this.lineFirst[1] === 0x2d && this.lineLen <= this.maxDelim;
  }

  private addToLine(piece: Buffer): void {
    for (let i = 0; i < piece.length && this.lineFirst.length < 2; i++) this.lineFirst.push(piece[i]);
    this.lineLen += piece.length;
    this.offset += piece.length;
    if (this.keepingLine()) this.line.push(piece);
    else if (this.line.length) this.line = []; // decided to drop: free what was held
    this.lastBytes(piece);
  }

  /** The last TAIL bytes seen: the parser looks up to 3 bytes back from a delimiter line. */
  private tail: number[] = [];
  private lastBytes(piece: Buffer): void {
    for (let i = Math.max(0, piece.length - TAIL); i < piece.length; i++) {
      this.tail.push(piece[i]);
      if (this.tail.length > TAIL) this.tail.shift();
    }
  }

  private endLine(): void {
    const start = this.lineStart;
    const end = this.offset;
    const kept = this.keepingLine() && this.line.length > 0;
    const first = this.lineFirst;
    const blank =
      (this.lineLen === 1 && first[0] === 0x0a) || (this.lineLen === 2 && first[0] === 0x0d && first[1] === 0x0a);
    if (kept) {
      const data = Buffer.concat(this.line);
      this.keep(start, data);
      if (this.inHeader) {
        this.headerBytes += data.length;
        this.headerBlock.push(data);
      }
    } else this.drop(start, end);
    if (this.inHeader && blank) {
      // end of a header block: a nested message (message/*, or a digest's empty part header) follows
      const block = Buffer.concat(this.headerBlock).toString('latin1');
      const empty = this.headerBlock.length <= 1;
      this.inHeader = empty || /^content-type:[ \t]*(\r?\n[ \t]+)?message\//im.test(block);
      this.headerBytes = 0;
      this.headerBlock = [];
    } else if (!this.inHeader && first[0] === 0x2d && first[1] === 0x2d) {
      this.inHeader = true; // after a possible delimiter comes a part header
      this.headerBytes = 0;
      this.headerBlock = [];
    }
    this.lineStart = end;
    this.line = [];
    this.lineLen = 0;
    this.lineFirst = [];
  }

  /** Kept lines not yet joined into a segment (joined when a gap or the end comes). */
  private run: { off: number; parts: Buffer[]; len: number } | null = null;

  private keep(off: number, data: Buffer): void {
    this.gap = null;
    if (this.run && this.run.off + this.run.len === off) {
      this.run.parts.push(data);
      this.run.len += data.length;
      return;
    }
    this.flushRun();
    this.run = { off, parts: [data], len: data.length };
  }

  private flushRun(): void {
    if (this.run) this.segs.push({ off: this.run.off, data: Buffer.concat(this.run.parts) });
    this.run = null;
  }

  private drop(start: number, end: number): void {
    this.flushRun();
    const lf = this.tail[this.tail.length - 1] === 0x0a ? 1 : 0;
    if (this.gap && this.gap.end === start) {
      this.gap.end = end;
      this.gap.lf += lf;
      if (lf) this.gap.lastLf = end - 1;
      this.gap.tail = [...this.tail];
    } else {
      this.gap = { start, end, lf, lastLf: lf ? end - 1 : -1, tail: [...this.tail] };
      this.gaps.push(this.gap);
    }
  }

  /** End of the message (a last line without LF is flushed). */
  finish(): SparseMessage {
    if (this.lineLen > 0) {
      const inHeader = this.inHeader;
      this.endLine();
      this.inHeader = inHeader;
    }
    this.flushRun();
    return new SparseMessage(this.offset, this.segs, this.gaps);
  }
}
