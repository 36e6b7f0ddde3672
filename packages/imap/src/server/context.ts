/**
 * What a command module sees: its tag, name, arguments, and the session's helpers. Command
 * modules (one file per command under commands/) export a CommandSpec.
 */
import type { StreamedLiteral } from '../protocol/reader.js';
import type { State } from '../protocol/capabilities.js';
import type { Token } from '../protocol/tokens.js';
import type { UserStore } from '@rmb/librmb';
import type { Session } from './session.js';
import type { SelectedView } from './selected.js';

/** What every command declares (Dovecot-style command flags as data). */
interface SpecBase {
  name: string;
  /** States in which the command is valid (RFC 3501 §6). */
  states: State[];
  /** Uses message sequence numbers: no EXPUNGE response may be sent during it (RFC 3501 §7.4.1). */
  usesSequenceNumbers?: boolean;
  /**
   * Changes sequence numbers itself (EXPUNGE, CLOSE, MOVE): it may report every pending EXPUNGE,
   * other sessions' too, whatever the client has pipelined after it (RFC 3501 §5.5 forbids the
   * client to pipeline a command that uses sequence numbers after one that breaks them).
   */
  breaksSequenceNumbers?: boolean;
  /** Saves into a target mailbox: when that mailbox does not exist the answer is NO [TRYCREATE] (RFC 3501 §7.1). */
  tryCreate?: boolean;
  /** Has a UID form ("UID FETCH ..."). */
  uidForm?: boolean;
}

/**
 * A command module's declaration. `needs` says what its context carries: nothing more (any
 * state), the logged-in user (`user`: authenticated or selected state) or the user and the
 * selected mailbox (`mailbox`: selected state). The session builds the context to match, so
 * commands never assert that a user or a mailbox is there.
 */
export type CommandSpec =
  | (SpecBase & { needs?: undefined; run(ctx: CommandContext): Promise<void> })
  | (SpecBase & { needs: 'user'; run(ctx: UserContext): Promise<void> })
  | (SpecBase & { needs: 'mailbox'; run(ctx: MailboxContext): Promise<void> });

export interface CommandContext {
  session: Session;
  tag: string;
  name: string;
  args: Token[];
  /** Invoked as "UID <name>". */
  uid: boolean;
  /** APPEND's message literal when it is streamed (the last string argument is then empty). */
  streamed?: StreamedLiteral;
}

/** The context of a command that needs the logged-in user. */
export interface UserContext extends CommandContext {
  user: UserStore;
}

/** The context of a command that needs the selected mailbox (and the user). */
export interface MailboxContext extends UserContext {
  view: SelectedView;
}
