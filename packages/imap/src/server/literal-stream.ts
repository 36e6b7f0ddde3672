/**
 * The message literal of a streamed APPEND (see protocol/reader.ts): chunks arrive from the
 * socket and leave through async iteration to the store. Above `highWaterBytes` buffered the
 * socket is paused, and resumed once the consumer has taken half of it, so a save holds a
 * bounded amount of the message whatever its size.
 */
import type { StreamedLiteral } from '../protocol/reader.js';

/** Bytes streamed between garbage collections (see SessionEnv.collectGarbage). */
export const STREAM_GC_BYTES = 16 << 20;

export class LiteralStream implements StreamedLiteral {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failed: Error | null = null;
  private discarding = false;
  private iterating = false;
  private wake?: () => void;
  private readonly endWaiters: (() => void)[] = [];

  /**
   * `size`: the literal's length in bytes; `pause`/`resume`: flow control of the source socket;
   * `highWaterBytes`: most bytes buffered before pausing (default 8 MiB).
   */
  constructor(
    readonly size: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
    private readonly highWaterBytes = 8 << 20,
    private readonly collectGarbage?: () => void,
  ) {}

  private consumed = 0;

  /** A chunk from the socket. */
  push(chunk: Buffer): void {
    if (this.discarding) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > this.highWaterBytes) this.pause();
    this.wake?.();
  }

  /** The whole literal has arrived. */
  end(): void {
    this.ended = true;
    this.wake?.();
    for (const w of this.endWaiters.splice(0)) w();
    this.resume();
  }

  /** Why the literal failed (fail()), or null. */
  get failure(): Error | null {
    return this.failed;
  }

  /** The connection is gone, or the command cannot complete: a waiting consumer fails with `err`. */
  fail(err: Error): void {
    this.failed = err;
    this.wake?.();
    for (const w of this.endWaiters.splice(0)) w();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.iterating) throw new Error('a literal stream can be read once');
    this.iterating = true;
    for (;;) {
      if (this.failed) throw this.failed;
      const c = this.chunks.shift();
      if (c) {
        this.buffered -= c.length;
        const before = this.consumed;
        this.consumed += c.length;
        if (this.collectGarbage && Math.floor(this.consumed / STREAM_GC_BYTES) > Math.floor(before / STREAM_GC_BYTES))
          this.collectGarbage();
        if (this.buffered <= this.highWaterBytes / 2) this.resume();
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  /** Drop what is left (the command failed); resolves once the whole literal has arrived. */
  discard(): Promise<void> {
    this.discarding = true;
    this.chunks = [];
    this.buffered = 0;
    this.resume();
    if (this.ended || this.failed) return Promise.resolve();
    return new Promise((r) => this.endWaiters.push(r));
  }

  private following?: { text: string; stream: LiteralStream } | null;
  private followWaiters: (() => void)[] = [];

  /** The reader saw what follows this literal in its command: the next message, or the end (null). */
  follow(next: { text: string; stream: LiteralStream } | null): void {
    this.following = next;
    for (const w of this.followWaiters.splice(0)) w();
  }

  async next(): Promise<{ text: string; stream: LiteralStream } | null> {
    while (this.following === undefined) {
      if (this.failed) throw this.failed;
      await new Promise<void>((r) => {
        this.followWaiters.push(r);
        this.endWaiters.push(r);
      });
    }
    return this.following;
  }

  async discardAll(): Promise<Error | null> {
    await this.discard();
    if (this.failed) return this.failed;
    const next = await this.next().catch(() => null);
    return next ? next.stream.discardAll() : null;
  }
}
