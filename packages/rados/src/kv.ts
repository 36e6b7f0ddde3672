/**
 * The small transactional key-value interface the local backends (memory, embedded) are built on.
 * Keys and values are bytes; keys sort bytewise (memcmp). `write` runs its callback inside one
 * atomic transaction: if it throws, nothing is applied.
 */

/** Operations available inside a transaction (synchronous: no I/O awaited inside). */
export interface KvTxn {
  get(key: Buffer): Buffer | undefined;
  put(key: Buffer, value: Buffer): void;
  del(key: Buffer): void;
  /** Entries with start <= key < end, in key order. */
  range(start: Buffer, end: Buffer): Iterable<[Buffer, Buffer]>;
}

/** A transactional byte store. */
export interface KvEngine {
  /** Run `fn` on a consistent snapshot. */
  read<T>(fn: (t: KvTxn) => T): Promise<T>;
  /** Run `fn` in one atomic transaction; resolves once committed and durable. A throw aborts. */
  write<T>(fn: (t: KvTxn) => T): Promise<T>;
  close(): Promise<void>;
}

/**
 * Encode key parts so that bytewise order of the encoding equals the order of the parts and a
 * prefix of parts encodes to a byte prefix: 0x00 separates parts, 0x00/0x01 inside a part are
 * escaped as 0x01 0x01 / 0x01 0x02.
 */
export function encodeKey(parts: string[]): Buffer {
  const bufs: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i) bufs.push(SEP);
    const b = Buffer.from(p, 'utf8');
    if (b.includes(0) || b.includes(1)) {
      const out: number[] = [];
      for (const c of b) {
        if (c === 0) out.push(1, 1);
        else if (c === 1) out.push(1, 2);
        else out.push(c);
      }
      bufs.push(Buffer.from(out));
    } else bufs.push(b);
  });
  return Buffer.concat(bufs);
}

/** Inverse of encodeKey for the last part after `prefixLen` bytes (the prefix ends with a separator). */
export function decodeKeyTail(key: Buffer, prefixLen: number): string {
  const tail = key.subarray(prefixLen);
  if (!tail.includes(1)) return tail.toString('utf8');
  const out: number[] = [];
  for (let i = 0; i < tail.length; i++) {
    if (tail[i] === 1) {
      out.push(tail[i + 1] === 1 ? 0 : 1);
      i++;
    } else out.push(tail[i]);
  }
  return Buffer.from(out).toString('utf8');
}

const SEP = Buffer.from([0]);
/** The smallest key greater than every key having `prefix` + separator as prefix. */
export function childrenRange(prefix: Buffer): [Buffer, Buffer] {
  return [Buffer.concat([prefix, SEP]), Buffer.concat([prefix, Buffer.from([1])])];
}
