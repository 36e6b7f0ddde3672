/** Shared login step of LOGIN and AUTHENTICATE: check, count failures, enter authenticated state. */
import type { Session } from '../session.js';
import { no } from '../errors.js';

/** Verify credentials and log in; throws NO [AUTHENTICATIONFAILED] (RFC 5530) on failure. */
export async function completeLogin(session: Session, tag: string, username: string, password: string): Promise<void> {
  const canonical = await session.env.authenticate(username, password);
  if (!canonical) return loginFailed(session, tag, username);
  await loginSucceeded(session, tag, canonical);
}

/**
 * A failed authentication: counted, delayed, answered NO [AUTHENTICATIONFAILED]; past
 * limits.maxAuthFailures the connection is closed. Throws the NO unless it closed.
 */
export async function loginFailed(session: Session, tag: string, username: string): Promise<void> {
  {
    session.authFailures++;
    session.env.log.info(
      { session: session.id, user: username.slice(0, 100), remote: session.remoteAddress },
      'authentication failed',
    );
    // a short delay slows password guessing
    await new Promise((r) => setTimeout(r, 200));
    if (session.authFailures >= session.env.limits.maxAuthFailures) {
      session.reply(tag, 'NO', 'Authentication failed.', 'AUTHENTICATIONFAILED');
      session.write('* BYE Too many authentication failures\r\n');
      session.close();
      return;
    }
    throw no('AUTHENTICATIONFAILED', 'Authentication failed.');
  }
}

/**
 * Enter the authenticated state as `canonical` and answer OK with the new capabilities. A user
 * whose route (librmb routes.ts, issue 13) is not `local` is refused with NO [UNAVAILABLE]
 * (RFC 5530): `frozen` while the mailbox is being moved; `source` while it still lives on the
 * old server (rmb does not proxy sessions there yet, and must not show a half-copied mailbox).
 */
export async function loginSucceeded(session: Session, tag: string, canonical: string): Promise<void> {
  const route = await session.env.store.routes.get(canonical);
  if (route.state !== 'local') {
    session.env.log.info({ session: session.id, user: canonical, route: route.state }, 'login refused by the route');
    throw no(
      'UNAVAILABLE',
      route.state === 'frozen'
        ? 'Your mailbox is being moved. Try again in a few minutes.'
        : 'Your mailbox is not served here yet. Use your old mail server.',
    );
  }
  await session.login(canonical);
  session.env.log.info({ session: session.id, user: canonical }, 'logged in');
  session.reply(tag, 'OK', 'Logged in', `CAPABILITY ${session.capabilities().join(' ')}`);
}
