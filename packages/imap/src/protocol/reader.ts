/**
 * Incremental IMAP command reader (RFC 3501 §2.2, §4.3; RFC 7888 LITERAL+/LITERAL-).
 * Bytes go in with `push`; out come events: a complete command line (with its literals as Buffers,
 * never decoded into strings), a request to send a continuation `+` for a synchronising literal,
 * or an error (line too long, literal too big) that the session answers with BAD/NO. Limits are
 * checked before `+` is sent, so a refused literal is never transferred. Pure: no I/O.
 *
 * APPEND's message literal, when larger than `streamLiteralBytes`, is not collected: the reader
 * emits `stream-start` (with the command so far) as soon as its header arrives, then
 * `stream-data` chunks and `stream-end` (with the rest of its line), so the session can save it
 * while it arrives; in a MULTIAPPEND the messages after it stream as well (`stream-next`), so
 * each message of any size up to maxLiteralBytes has its own stream. Any other literal that large
 * is refused (it would have to be held in memory). Skipping a refused command skips its later
 * non-synchronizing literals too, so their bytes are never read as commands.
 */

/** Limits of the reader, all in bytes. */
export interface ReaderLimits {
  /** Longest command line without its literals (default 64 KiB). */
  maxLineBytes: number;
  /** Largest single literal (default 64 MiB, the APPEND limit). */
  maxLiteralBytes: number;
  /** Largest total of literals in one command (default 2 * maxLiteralBytes). */
  maxCommandBytes: number;
  /** APPEND literals above this are streamed; other literals above it are refused (default: never stream). */
  streamLiteralBytes?: number;
}

/** An APPEND message literal that is streamed rather than collected (see stream-start). */
export interface StreamedLiteral extends AsyncIterable<Buffer> {
  /** Its length in bytes. */
  readonly size: number;
  /** Drop the rest; resolves when the whole literal has been received. */
  discard(): Promise<void>;
  /** Why the literal could not be delivered whole (the connection closed, or more followed it), or null. */
  readonly failure: Error | null;
  /**
   * What follows this message in its APPEND (MULTIAPPEND, RFC 3502): the text before the next
   * message's literal (its flags and date, e.g. ` (\\Seen) "1-Jan-2024 00:00:00 +0000"`) and that
   * literal, streamed too; or null when the command ends here. Resolves once this literal has
   * been received whole and the reader has seen the rest of its line; rejects with `failure`.
   */
  next(): Promise<{ text: string; stream: StreamedLiteral } | null>;
  /**
   * Drop this message and every one after it in the command; resolves once all have arrived, with
   * the first failure among them (see `failure`) or null.
   */
  discardAll(): Promise<Error | null>;
}

/** A command's raw form: text segments with literals between them. */
export interface RawCommand {
  /** The line segments; `literals[i]` sits between `parts[i]` and `parts[i+1]`. */
  parts: string[];
  literals: Buffer[];
  /** The last literal, when it is streamed (its `literals` entry is then empty). */
  streamed?: StreamedLiteral;
}

export type ReaderEvent =
  | { type: 'command'; cmd: RawCommand }
  | { type: 'stream-start'; cmd: RawCommand; size: number }
  | { type: 'stream-data'; chunk: Buffer }
  /**
   * The streamed literal is complete, with the rest of its command line: empty when the command
   * ends there; anything else (a MULTIAPPEND's next message) means the command cannot be done as
   * streamed, and the reader skips the rest of it (see CommandReader).
   */
  | { type: 'stream-end'; rest: string }
  /**
   * The streamed literal is complete and its line goes on with another message of the same
   * MULTIAPPEND: `rest` is the text before that message's literal, which is streamed too
   * (stream-data chunks follow, then stream-next or stream-end again), whatever its size.
   */
  | { type: 'stream-next'; rest: string; size: number }
  | { type: 'continue'; size: number }
  | { type: 'error'; kind: 'line-too-long' | 'literal-too-big'; tag: string; message: string };

const LITERAL_AT_END = /\{(\d{1,20})(\+?)\}$/;

/** Whether a command line (so far) ends with a literal header `{n}` or `{n+}`: more of the command follows. */
export function endsWithLiteral(line: string): boolean {
  return LITERAL_AT_END.test(line);
}
/** An APPEND command line so far (tag, optional UID is not valid for APPEND). */
const APPEND_LINE = /^[^\s(){%*"\\\]]+ APPEND /i;

/**
 * The reader. Call `push(chunk)` for each chunk received; it returns the events the chunk completed.
 * While `rawLineMode` is set (IDLE, AUTHENTICATE), lines are returned as commands with one part.
 */
export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: string[] = [];
  private literals: Buffer[] = [];
  private literalLeft = 0;
  private literalChunks: Buffer[] = [];
  private skipping = 0;
  private skipError: ReaderEvent | null = null;
  private discardLine = false;
  private commandBytes = 0;
  /** Bytes of a streamed literal still to pass through; then the rest of its line is read. */
  private streaming = 0;
  /** The streamed literal has passed: the next line ends its command (see stream-end). */
  private afterStream = false;
  /**
   * The rest of a refused command is being skipped: its next line is read only for a trailing
   * non-synchronizing literal, which is skipped too; a synchronizing one is never continued.
   */
  private skipCommand = false;
  constructor(readonly limits: ReaderLimits) {}

  /**
   * The bytes received but not yet part of an event, when the reader sits between commands or
   * inside a plain line (no literal under way): what a proxy must pass on (issue 13). Null when a
   * literal or a multi-line command is in progress (its bytes cannot be handed back as they came).
   */
  takeBuffered(): Buffer | null {
    if (this.streaming || this.skipping || this.literalLeft || this.parts.length || this.skipCommand) return null;
    const b = this.buf;
    this.buf = Buffer.alloc(0);
    return b;
  }

  /** Feed bytes; returns completed events in order. */
  push(chunk: Buffer): ReaderEvent[] {
    const out: ReaderEvent[] = [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      // bytes that are not a line: a streamed literal, a skipped one, a collected one
      if (this.streaming > 0) {
        if (!this.passStreamed(out)) return out;
        continue;
      }
      if (this.skipping > 0) {
        if (!this.skipBytes()) return out;
        continue;
      }
      if (this.literalLeft > 0) {
        if (!this.collectLiteral()) return out;
        continue;
      }
      const line = this.nextLine(out);
      if (line === null) return out;
      if (line !== undefined) this.onLine(line, out);
    }
  }

  /** Hand on streamed literal bytes (no copy: socket chunks are not reused); false: wait for more. */
  private passStreamed(out: ReaderEvent[]): boolean {
    const n = Math.min(this.streaming, this.buf.length);
    if (n === 0) return false;
    out.push({ type: 'stream-data', chunk: this.buf.subarray(0, n) });
    this.streaming -= n;
    this.buf = this.buf.subarray(n);
    if (this.streaming > 0) return false;
    // the command was dispatched at stream-start; the rest of its line says whether it ends here
    this.afterStream = true;
    return true;
  }

  /** Drop the bytes of a refused literal; then the rest of its command is skipped too. False: wait. */
  private skipBytes(): boolean {
    const n = Math.min(this.skipping, this.buf.length);
    this.skipping -= n;
    this.buf = this.buf.subarray(n);
    if (this.skipping > 0) return false;
    this.skipCommand = true;
    return true;
  }

  /** Collect the bytes of a literal of the command; false: wait for more. */
  private collectLiteral(): boolean {
    const n = Math.min(this.literalLeft, this.buf.length);
    if (n === 0) return false;
    this.literalChunks.push(Buffer.from(this.buf.subarray(0, n)));
    this.literalLeft -= n;
    this.buf = this.buf.subarray(n);
    if (this.literalLeft > 0) return false;
    this.literals.push(Buffer.concat(this.literalChunks));
    this.literalChunks = [];
    return true;
  }

  /**
   * The next line without its CRLF; null when none is complete yet (a line already too long is
   * refused and dropped); undefined when the line was consumed here (the end of a discarded one).
   */
  private nextLine(out: ReaderEvent[]): Buffer | null | undefined {
    const nl = this.buf.indexOf(0x0a);
    if (nl < 0) {
      if (this.buf.length > this.limits.maxLineBytes) this.refuseLongLine(out);
      return null;
    }
    let line = this.buf.subarray(0, nl);
    this.buf = this.buf.subarray(nl + 1);
    if (this.discardLine) {
      this.discardLine = false;
      if (this.skipError) {
        out.push(this.skipError);
        this.skipError = null;
      }
      this.reset();
      return undefined;
    }
    if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    return line;
  }

  /** A line grows past maxLineBytes before its end arrived: refuse it (once) and drop it to its end. */
  private refuseLongLine(out: ReaderEvent[]): void {
    if (this.afterStream) {
      out.push({ type: 'stream-end', rest: this.buf.subarray(0, 64).toString('latin1') });
      this.afterStream = false;
      this.discardLine = true;
    }
    if (this.skipCommand) {
      this.skipCommand = false;
      this.discardLine = true;
    }
    if (!this.discardLine) {
      out.push({ type: 'error', kind: 'line-too-long', tag: this.tagOf(this.buf), message: 'Command line too long' });
    }
    this.discardLine = true;
    this.reset();
    this.buf = Buffer.alloc(0);
  }

  /** A complete line: the rest of a streamed literal's line, of a skipped command, or a command (part). */
  private onLine(line: Buffer, out: ReaderEvent[]): void {
    if (this.afterStream) {
      this.afterStream = false;
      this.afterStreamed(line.toString('latin1'), out);
      return;
    }
    if (this.skipCommand) {
      this.skipCommand = false;
      this.skipRest(line.toString('latin1'), out);
      return;
    }
    if (line.length > this.limits.maxLineBytes) {
      out.push({ type: 'error', kind: 'line-too-long', tag: this.tagOf(line), message: 'Command line too long' });
      this.reset();
      return;
    }
    const text = line.toString('utf8');
    const m = LITERAL_AT_END.exec(text);
    if (m) {
      this.literalHeader(text, m, line, out);
      return;
    }
    this.parts.push(text);
    out.push({ type: 'command', cmd: { parts: this.parts, literals: this.literals } });
    this.reset();
  }

  /**
   * The rest of a streamed literal's line: the next message of a MULTIAPPEND (streamed as well,
   * RFC 3502), or the end of the command.
   */
  private afterStreamed(rest: string, out: ReaderEvent[]): void {
    const next = LITERAL_AT_END.exec(rest);
    if (next && Number(next[1]) <= this.limits.maxLiteralBytes) {
      const size = Number(next[1]);
      out.push({ type: 'stream-next', rest: rest.slice(0, next.index), size });
      if (next[2] !== '+') out.push({ type: 'continue', size });
      this.startStream(size);
      return;
    }
    out.push({ type: 'stream-end', rest });
    if (rest.length) this.skipRest(rest, out);
  }

  /**
   * A line ending in a literal header `{n}` / `{n+}`: refused when too big (before any `+`), streamed
   * when it is an APPEND message above streamLiteralBytes, else collected.
   */
  private literalHeader(text: string, m: RegExpExecArray, line: Buffer, out: ReaderEvent[]): void {
    const size = Number(m[1]);
    const nonSync = m[2] === '+';
    const tag = this.parts.length ? this.tagOf(Buffer.from(this.parts[0])) : this.tagOf(line);
    if (size > this.limits.maxLiteralBytes || this.commandBytes + size > this.limits.maxCommandBytes) {
      const message = `Literal of ${size} bytes exceeds the limit of ${this.limits.maxLiteralBytes}`;
      this.refuseLiteral({ type: 'error', kind: 'literal-too-big', tag, message }, size, nonSync, out);
      return;
    }
    if (size > (this.limits.streamLiteralBytes ?? Infinity)) {
      if (!APPEND_LINE.test(this.parts.length ? this.parts[0] : text)) {
        const message = `Literal of ${size} bytes is too big for this command`;
        this.refuseLiteral({ type: 'error', kind: 'literal-too-big', tag, message }, size, nonSync, out);
        return;
      }
      // the messages before it (collected) go with the command; this one and those after it stream
      const cmd = { parts: [...this.parts, text.slice(0, m.index)], literals: this.literals };
      out.push({ type: 'stream-start', cmd, size });
      if (!nonSync) out.push({ type: 'continue', size });
      this.reset();
      this.startStream(size);
      return;
    }
    this.parts.push(text.slice(0, m.index));
    this.commandBytes += size;
    this.literalLeft = size;
    if (size === 0) this.literals.push(Buffer.alloc(0));
    if (!nonSync) out.push({ type: 'continue', size });
  }

  /** Pass the next `size` bytes on as stream-data (an empty literal ends at once). */
  private startStream(size: number): void {
    this.streaming = size;
    if (size === 0) this.afterStream = true;
  }

  /**
   * Refuse a literal: a synchronizing one is answered at once (no `+` is sent, the client sends
   * nothing more of the command); a non-synchronizing one is skipped, with the rest of its
   * command, and answered after it.
   */
  private refuseLiteral(ev: ReaderEvent, size: number, nonSync: boolean, out: ReaderEvent[]): void {
    if (!nonSync) {
      out.push(ev);
      this.reset();
      return;
    }
    this.skipping = size;
    this.skipError = ev;
    if (size === 0) this.skipCommand = true;
  }

  /**
   * A line of a command being skipped: a trailing non-synchronizing literal is skipped with the
   * rest of the command; otherwise the command ends here (a synchronizing literal is never
   * continued: the client waits for the tagged answer instead), and a pending error is reported.
   */
  private skipRest(line: string, out: ReaderEvent[]): void {
    const m = LITERAL_AT_END.exec(line);
    if (m && m[2] === '+') {
      this.skipping = Number(m[1]);
      if (this.skipping === 0) this.skipCommand = true;
      return;
    }
    if (this.skipError) {
      out.push(this.skipError);
      this.skipError = null;
    }
    this.reset();
  }

  private reset(): void {
    this.parts = [];
    this.literals = [];
    this.literalChunks = [];
    this.literalLeft = 0;
    this.commandBytes = 0;
  }

  private tagOf(b: Buffer): string {
    const s = b.subarray(0, 64).toString('latin1');
    const m = /^([^\s(){%*"\\\]]+)/.exec(s);
    return m ? m[1] : '*';
  }
}
