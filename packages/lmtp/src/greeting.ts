/**
 * The LMTP greeting without smtp-server's 100 ms wait.
 *
 * smtp-server waits 100 ms after accepting a connection before it sends its 220 greeting, to
 * catch SMTP clients that talk first ("early talkers", a spam-bot trait), and answers those with
 * "421 You talk too soon". rmb's LMTP clients are the site's own MTAs, so the wait only made
 * every delivery connection 100 ms slower (Postfix's smtp-source opens one per message; measured
 * 100-102 ms from connect to greeting). For the servers registered here the connection's start is
 * replaced by the same steps without the timer: listeners, then the greeting. Other smtp-server
 * instances in the process are untouched.
 */
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const prompt = new WeakSet<object>();
let installed = false;

interface Starting {
  _server: object;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
}

/** Greet at once on connections of `server` (installs the wrapper once per process). */
export function greetWithoutDelay(server: SMTPServer): void {
  prompt.add(server);
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as Starting & { init(): void };
  const init = proto.init;
  // a later smtp-server without these steps keeps its own start (and its wait)
  if (typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') return;
  proto.init = function (this: Starting) {
    if (!prompt.has(this._server)) return init.call(this);
    this._setListeners(() => this.connectionReady());
  };
}
