/**
 * IMAP URLs (RFC 5092) as CATENATE (RFC 4469 §3) uses them: a message or a part of one in the
 * user's own mailboxes. Absolute ("imap://user@host/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.2")
 * and host-relative ("/INBOX/;UID=20") forms; a URL without a mailbox ("/;UID=20") means the
 * selected mailbox. Pure.
 */
import { ParseError } from './tokens.js';

/** A parsed message URL. */
export interface MessageUrl {
  /** Mailbox name as written (modified UTF-7 after %-decoding), or null for the selected one. */
  mailbox: string | null;
  uidvalidity?: number;
  uid: number;
  /** Body section as in BODY[section] (e.g. "1.2", "HEADER"), '' for the whole message. */
  section: string;
  /** ;PARTIAL=offset[.length] (RFC 5092 §3.6). */
  partial?: [number, number | undefined];
  /** The authority of an absolute URL (RFC 5092 §3.2: [user[;AUTH=...]@]host[:port]); absent for a relative one. */
  server?: { user?: string; host: string; port?: number };
}

function num(s: string, what: string): number {
  if (!/^\d{1,10}$/.test(s) || (Number(s) < 1 && what !== 'offset')) throw new ParseError(`Invalid ${what} in URL`);
  return Number(s);
}

/** Parse a message URL. Throws ParseError for anything else (e.g. a URL without ;UID=). */
export function parseMessageUrl(url: string): MessageUrl {
  let rest = url;
  let server: MessageUrl['server'];
  const abs = /^imap:\/\/([^/]*)(\/.*)$/i.exec(rest);
  if (abs) {
    rest = abs[2];
    const at = abs[1].lastIndexOf('@');
    const userinfo = at >= 0 ? abs[1].slice(0, at) : undefined;
    const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(abs[1].slice(at + 1));
    if (!hp || !hp[1]) throw new ParseError('Invalid server in URL');
    const user = userinfo?.split(';')[0];
    server = {
      host: hp[1].toLowerCase(),
      ...(user ? { user: decodeURIComponent(user) } : {}),
      ...(hp[2] ? { port: Number(hp[2]) } : {}),
    };
  }
  if (!rest.startsWith('/')) throw new ParseError('Invalid URL');
  const segments = rest.slice(1).split('/');
  let mailbox: string | null = null;
  let uidvalidity: number | undefined;
  let i = 0;
  if (!segments[0].startsWith(';')) {
    const [name, ...params] = segments[0].split(';');
    mailbox = decodeURIComponent(name);
    for (const p of params) {
      const m = /^UIDVALIDITY=(.*)$/i.exec(p);
      if (!m) throw new ParseError('Invalid mailbox parameter in URL');
      uidvalidity = num(m[1], 'UIDVALIDITY');
    }
    i = 1;
  }
  let uid: number | undefined;
  let section = '';
  let partial: MessageUrl['partial'];
  for (; i < segments.length; i++) {
    const m = /^;(UID|SECTION|PARTIAL)=(.*)$/i.exec(segments[i]);
    if (!m) throw new ParseError('Invalid URL segment');
    const v = decodeURIComponent(m[2]);
    switch (m[1].toUpperCase()) {
      case 'UID':
        uid = num(v, 'UID');
        break;
      case 'SECTION':
        section = v;
        break;
      case 'PARTIAL': {
        const [o, l] = v.split('.');
        partial = [num(o, 'offset'), l === undefined ? undefined : num(l, 'length')];
        break;
      }
    }
  }
  if (uid === undefined) throw new ParseError('URL names no message (;UID=)');
  return { mailbox, uidvalidity, uid, section, partial, ...(server ? { server } : {}) };
}
