/** Peer address checks shared by the session and the commands. */
import { isIP } from 'node:net';

/** True for loopback peers (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopback(addr: string): boolean {
  if (!isIP(addr)) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}
