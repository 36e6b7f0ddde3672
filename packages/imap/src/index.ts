/**
 * @rmb/imap — the IMAP server: a pure protocol layer (protocol/: reader, tokenizer, parsers,
 * encoders, capability table) and the server (server/: sessions, one module per command).
 */
export { createImapServer, type ImapServer } from './server/server.js';
export { Session, isLoopback, type SessionEnv, type ImapLimits, type Log } from './server/session.js';
export { quickAck, inQuickAck } from './server/tcp.js';
export { AuthThrottle, DEFAULT_AUTH_THROTTLE, type AuthThrottleLimits } from './server/auth-throttle.js';
export { CommandReader, type ReaderLimits, type ReaderEvent } from './protocol/reader.js';
export { tokenize, ParseError } from './protocol/tokens.js';
export { CAPABILITIES, capabilityList } from './protocol/capabilities.js';
export { encodeMailboxName, decodeMailboxName } from './protocol/utf7.js';
export {
  ScramServer,
  ScramError,
  scramCredentials,
  scramCredentialsAsync,
  type ScramCredentials,
} from './protocol/scram.js';
export { formatDateTime, parseDateTime, parseSearchDate } from './protocol/dates.js';
export { parseSeqSet, inSet, type SeqSet } from './protocol/sequence.js';
export { searchMailbox } from './server/offline-search.js';
