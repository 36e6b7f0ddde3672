declare module 'libqp' {
  export function decode(s: string): Buffer;
  export function encode(b: Buffer | string): string;
}
