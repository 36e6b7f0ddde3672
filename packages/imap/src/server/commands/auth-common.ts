/** Shared login step of LOGIN and AUTHENTICATE: check, count failures, enter authenticated state. */
import type { Session } from '../session.js';
import { no } from '../errors.js';
import { userNameProblem, type RouteSource } from '@rmb/librmb';
import { openUpstream, ProxyFailed, type Upstream } from '../proxy.js';

/**
 * Verify credentials and log in; throws NO [AUTHENTICATIONFAILED] (RFC 5530) on failure, NO
 * [UNAVAILABLE] while the address or user name is throttled (refuseThrottled). A user name that
 * could escape anything (userNameProblem) fails without being looked up.
 */
export async function completeLogin(session: Session, tag: string, username: string, password: string): Promise<void> {
  refuseThrottled(session, username);
  const problem = userNameProblem(username);
  if (problem) {
    session.env.log.info({ session: session.id, remote: session.remoteAddress, problem }, 'hostile user name refused');
    return loginFailed(session, tag, username);
  }
  const canonical = await session.env.authenticate(username, password);
  if (canonical) return loginSucceeded(session, tag, canonical, password);
  // a user rmb does not know may live on the old server (a route of its own, or the default
  // route of a domain being moved): there the old server checks the password
  if (session.env.proxy && username.length <= MAX_PROXY_NAME && !/[\0-\x1f\x7f]/.test(username)) {
    const route = await session.env.store.routes.get(username);
    if (route.state === 'source' && route.source)
      return proxyLogin(session, tag, username, password, route.source, true);
  }
  return loginFailed(session, tag, username);
}

/**
 * Refuse an authentication from an address or for a user name that failed too often lately (the
 * server's AuthThrottle): NO [UNAVAILABLE], logged with the address. Throws that NO.
 */
export function refuseThrottled(session: Session, username: string | undefined): void {
  const r = session.env.authThrottle?.refused(session.remoteAddress, username);
  if (!r) return;
  session.env.log.warn(
    { session: session.id, remote: session.remoteAddress, user: username?.slice(0, 100), by: r.by, until: r.until },
    'authentication refused: too many failures',
  );
  throw no('UNAVAILABLE', 'Too many failed logins. Try again later.');
}

/** Longest user name looked up in the routes for a user rmb does not know (bytes of UTF-16). */
const MAX_PROXY_NAME = 255;

/**
 * Log in at the user's old server and turn the session into a proxy there (issue 13, Session.startProxy).
 * `unknown`: rmb does not know the user, so a refusal there is an authentication failure here.
 * Throws NO [UNAVAILABLE] when the old server cannot be reached or the login cannot be passed on
 * (SCRAM without a master user), NO [AUTHENTICATIONFAILED] (loginFailed) when it refuses.
 */
async function proxyLogin(
  session: Session,
  tag: string,
  name: string,
  password: string | undefined,
  source: RouteSource,
  unknown: boolean,
): Promise<void> {
  const px = session.env.proxy;
  if (!px) throw no('UNAVAILABLE', 'Your mailbox is not served here yet. Use your old mail server.');
  if (!px.master && password === undefined)
    throw no('UNAVAILABLE', 'Your mailbox is still on the old server: log in with PLAIN or LOGIN.');
  const user = (!unknown && source.user) || name;
  let up: Upstream;
  try {
    up = await openUpstream({ uri: source.imap, user, password, master: px.master }, px.timeoutMs);
  } catch (e) {
    const failed = e instanceof ProxyFailed ? e : new ProxyFailed('unavailable', String(e));
    session.env.log.info({ session: session.id, user: name, err: failed.message }, 'proxy login failed');
    if (failed.kind === 'auth') return loginFailed(session, tag, name);
    throw no('UNAVAILABLE', 'Your mail server cannot be reached. Try again later.');
  }
  session.env.log.info({ session: session.id, user: name, upstream: up.host }, 'logged in (proxied)');
  session.startProxy(tag, name, up);
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
    // a delay growing with the address's failures slows password guessing (AuthThrottle)
    const delay = session.env.authThrottle?.failed(session.remoteAddress, username) ?? 200;
    await new Promise((r) => setTimeout(r, delay));
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
 * (RFC 5530) while `frozen` (the mailbox is being moved); while `source` the session is proxied
 * to the old server (with `password`, or as the configured master user), or refused when no proxy
 * is configured (a half-copied mailbox is never shown).
 */
export async function loginSucceeded(
  session: Session,
  tag: string,
  canonical: string,
  password?: string,
): Promise<void> {
  const route = await session.env.store.routes.get(canonical);
  if (route.state === 'source' && route.source && session.env.proxy)
    return proxyLogin(session, tag, canonical, password, route.source, false);
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
  session.env.authThrottle?.succeeded(session.remoteAddress);
  session.env.log.info({ session: session.id, user: canonical }, 'logged in');
  session.reply(tag, 'OK', 'Logged in', `CAPABILITY ${session.capabilities().join(' ')}`);
}
