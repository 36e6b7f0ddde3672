/**
 * The capability table, as data (RFC 3501 §6.1.1, RFC 9051 §7.2.2): each capability with the
 * RFC defining it and the states in which it is advertised. Only what is implemented and tested
 * is listed.
 */

export type State = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/** A capability row. `when` decides advertisement from session facts. */
export interface Capability {
  name: string;
  /** A value computed from the facts, advertised as NAME=value (e.g. APPENDLIMIT=n). */
  value?: (f: CapabilityFacts) => string;
  rfc: string;
  states: State[];
  /** Extra condition, e.g. only before TLS (STARTTLS) or only when LOGIN is allowed. */
  when?: (f: CapabilityFacts) => boolean;
}

/** What the advertisement depends on. */
export interface CapabilityFacts {
  tls: boolean;
  tlsAvailable: boolean;
  plaintextAuthAllowed: boolean;
  /** Largest APPEND accepted, bytes (APPENDLIMIT). */
  appendLimit: number;
  /** The server can look up SCRAM credentials (AUTH=SCRAM-SHA-256). */
  scram: boolean;
}

const ANY: State[] = ['not-authenticated', 'authenticated', 'selected'];
const AUTHED: State[] = ['authenticated', 'selected'];

export const CAPABILITIES: Capability[] = [
  { name: 'IMAP4rev1', rfc: 'RFC 3501', states: ANY },
  { name: 'IMAP4rev2', rfc: 'RFC 9051', states: ANY },
  { name: 'LITERAL+', rfc: 'RFC 7888', states: ANY },
  { name: 'SASL-IR', rfc: 'RFC 4959', states: ['not-authenticated'] },
  { name: 'ID', rfc: 'RFC 2971', states: ANY },
  { name: 'ENABLE', rfc: 'RFC 5161', states: ANY },
  { name: 'IDLE', rfc: 'RFC 2177', states: ANY },
  { name: 'NAMESPACE', rfc: 'RFC 2342', states: ANY },
  { name: 'UNSELECT', rfc: 'RFC 3691', states: ANY },
  { name: 'UIDPLUS', rfc: 'RFC 4315', states: ANY },
  { name: 'MOVE', rfc: 'RFC 6851', states: ANY },
  { name: 'SPECIAL-USE', rfc: 'RFC 6154', states: ANY },
  { name: 'CHILDREN', rfc: 'RFC 3348', states: ANY },
  { name: 'LIST-EXTENDED', rfc: 'RFC 5258', states: ANY },
  { name: 'LIST-STATUS', rfc: 'RFC 5819', states: ANY },
  { name: 'CREATE-SPECIAL-USE', rfc: 'RFC 6154 §3', states: ANY },
  { name: 'CONDSTORE', rfc: 'RFC 7162 §3.1', states: ANY },
  { name: 'QRESYNC', rfc: 'RFC 7162 §3.2', states: ANY },
  { name: 'MULTIAPPEND', rfc: 'RFC 3502', states: ANY },
  { name: 'BINARY', rfc: 'RFC 3516', states: ANY },
  { name: 'CATENATE', rfc: 'RFC 4469', states: ANY },
  { name: 'UTF8=ACCEPT', rfc: 'RFC 6855', states: ANY },
  { name: 'COMPRESS=DEFLATE', rfc: 'RFC 4978', states: AUTHED },
  { name: 'STATUS=SIZE', rfc: 'RFC 8438', states: ANY },
  { name: 'APPENDLIMIT', rfc: 'RFC 7889', states: ANY, value: (f) => String(f.appendLimit) },
  { name: 'UNAUTHENTICATE', rfc: 'RFC 8437', states: AUTHED },
  { name: 'OBJECTID', rfc: 'RFC 8474', states: ANY },
  { name: 'ESEARCH', rfc: 'RFC 4731', states: ANY },
  { name: 'SEARCHRES', rfc: 'RFC 5182', states: ANY },
  { name: 'SAVEDATE', rfc: 'RFC 8514', states: ANY },
  { name: 'WITHIN', rfc: 'RFC 5032', states: ANY },
  { name: 'PREVIEW', rfc: 'RFC 8970', states: ANY },
  { name: 'QUOTA', rfc: 'RFC 9208', states: AUTHED },
  { name: 'QUOTA=RES-STORAGE', rfc: 'RFC 9208 §5.1', states: AUTHED },
  { name: 'QUOTA=RES-MESSAGE', rfc: 'RFC 9208 §5.2', states: AUTHED },
  { name: 'METADATA', rfc: 'RFC 5464', states: AUTHED },
  { name: 'SORT', rfc: 'RFC 5256', states: ANY },
  { name: 'SORT=DISPLAY', rfc: 'RFC 5957', states: ANY },
  { name: 'THREAD=ORDEREDSUBJECT', rfc: 'RFC 5256', states: ANY },
  { name: 'THREAD=REFERENCES', rfc: 'RFC 5256', states: ANY },
  { name: 'STARTTLS', rfc: 'RFC 3501 §6.2.1', states: ['not-authenticated'], when: (f) => f.tlsAvailable && !f.tls },
  {
    name: 'LOGINDISABLED',
    rfc: 'RFC 3501 §6.2.3',
    states: ['not-authenticated'],
    when: (f) => !f.tls && !f.plaintextAuthAllowed,
  },
  { name: 'AUTH=PLAIN', rfc: 'RFC 4616', states: ['not-authenticated'], when: (f) => f.tls || f.plaintextAuthAllowed },
  // no password crosses the wire: offered without TLS too, as Dovecot does
  { name: 'AUTH=SCRAM-SHA-256', rfc: 'RFC 7677', states: ['not-authenticated'], when: (f) => f.scram },
  {
    name: 'AUTH=LOGIN',
    rfc: 'draft-murchison-sasl-login',
    states: ['not-authenticated'],
    when: (f) => f.tls || f.plaintextAuthAllowed,
  },
];

/** The capability list for a session's state and facts. */
export function capabilityList(state: State, f: CapabilityFacts): string[] {
  return CAPABILITIES.filter((c) => c.states.includes(state) && (!c.when || c.when(f))).map((c) =>
    c.value ? `${c.name}=${c.value(f)}` : c.name,
  );
}
