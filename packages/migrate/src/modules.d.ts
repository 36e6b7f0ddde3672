/** What rmb uses of `mbox-reader` (no types shipped): an async generator over an mbox stream. */
declare module 'mbox-reader' {
  import type { Readable } from 'node:stream';
  /** One message of an mbox file. */
  export interface MboxMessage {
    returnPath: string;
    /** The date of the `From ` line, or false when it does not parse. */
    time: Date | false;
    /** The message, `>From ` unquoted, lines joined with LF, without the separating empty line. */
    content: Buffer;
    /** Header name (lower case) -> values (unfolded). */
    headers: Map<string, string[]>;
    /** IMAP flags from Status / X-Status. */
    flags: string[];
  }
  export function mboxReader(input: Readable, options?: { gz?: boolean }): AsyncGenerator<MboxMessage>;
}
