/**
 * TCP socket options Node does not expose. TCP_QUICKACK (Linux, tcp(7)) makes the kernel
 * acknowledge the next data at once instead of delaying the ACK by up to 40 ms.
 *
 * Why: after a continuation request (`+ ...`) the server has just sent data, so Linux is in its
 * "ping-pong" mode and delays the ACK of what the client sends next. A client that writes a
 * literal and its closing CRLF in two writes without TCP_NODELAY (Python's imaplib does) has its
 * CRLF held by Nagle's algorithm until that ACK comes: every APPEND then took ~45 ms more than
 * it should. Dovecot sets TCP_QUICKACK after each continuation for this reason; rmb does the same.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const IPPROTO_TCP = 6;
/** Linux's TCP_QUICKACK option number (include/uapi/linux/tcp.h). */
const TCP_QUICKACK = 12;

type SetSockOpt = (socket: Socket, level: number, name: number, value: number) => void;
type GetSockOpt = (socket: Socket, level: number, name: number) => number;

let binding: { setsockopt: SetSockOpt; getsockopt: GetSockOpt } | null | undefined;

/** The `sockopt` package (prebuilt N-API binary), or null where it cannot load or on another OS. */
function sockopt(): { setsockopt: SetSockOpt; getsockopt: GetSockOpt } | null {
  if (binding !== undefined) return binding;
  binding = null;
  if (process.platform !== 'linux') return binding;
  try {
    binding = createRequire(import.meta.url)('sockopt') as { setsockopt: SetSockOpt; getsockopt: GetSockOpt };
  } catch {
    binding = null;
  }
  return binding;
}

/**
 * Ask the kernel to acknowledge the next data received on `socket` (a plain TCP socket, not a
 * TLS wrapper) immediately. Returns false when that is not possible (not Linux, the binary did
 * not load, the socket is closed); never throws. Quick-ACK mode is not permanent: call it after
 * each continuation request.
 */
export function quickAck(socket: Socket | undefined): boolean {
  const so = sockopt();
  if (!so || !socket || socket.destroyed) return false;
  try {
    so.setsockopt(socket, IPPROTO_TCP, TCP_QUICKACK, 1);
    return true;
  } catch {
    return false;
  }
}

/** Whether `socket` is in quick-ACK mode now (TCP_QUICKACK read back), for tests; false when unknown. */
export function inQuickAck(socket: Socket): boolean {
  const so = sockopt();
  if (!so || socket.destroyed) return false;
  try {
    return so.getsockopt(socket, IPPROTO_TCP, TCP_QUICKACK) !== 0;
  } catch {
    return false;
  }
}
