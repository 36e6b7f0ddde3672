/**
 * AUTHENTICATE (RFC 3501 §6.2.2) with PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login:
 * base64 "Username:" and "Password:" prompts) and SCRAM-SHA-256 (RFC 7677, RFC 5802; the
 * server-final message goes out as a last "+" that the client answers with an empty line), with
 * an initial response (SASL-IR, RFC 4959).
 */
import type { CommandContext, CommandSpec } from '../context.js';
import { asText } from '../../protocol/tokens.js';
import { bad, no } from '../errors.js';
import { completeLogin, loginFailed, loginSucceeded, refuseThrottled } from './auth-common.js';
import { userNameProblem } from '@rmb/librmb';
import { ScramError, ScramServer, scramCredentialsAsync } from '../../protocol/scram.js';

function decodePlain(b64: string): [string, string] {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad('Invalid base64');
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) throw bad('Invalid PLAIN response');
  const [authz, authc, pass] = parts;
  if (authz && authz !== authc) throw no('AUTHORIZATIONFAILED', 'Proxy authorization not supported');
  return [authc, pass];
}

function decodeB64(b64: string): string {
  if (b64 === '*') throw bad('Authentication aborted');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad('Invalid base64');
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Send a base64 continuation prompt and decode the answer line. */
async function prompt(session: CommandContext['session'], text: string): Promise<string> {
  session.continuation(Buffer.from(text).toString('base64'));
  return decodeB64((await session.nextLine()).trim());
}

export const authenticate: CommandSpec = {
  name: 'AUTHENTICATE',
  states: ['not-authenticated'],
  async run({ session, tag, args }) {
    const mech = asText(args[0], 'mechanism').toUpperCase();
    if (mech === 'SCRAM-SHA-256' && session.env.scramCredentials) {
      await scram(session, tag, args[1] ? asText(args[1], 'initial response') : undefined);
      return;
    }
    if (mech !== 'PLAIN' && mech !== 'LOGIN')
      throw no('CANNOT', `Unsupported authentication mechanism ${mech.slice(0, 20)}`);
    if (!session.plaintextAllowed())
      throw no('PRIVACYREQUIRED', 'Plaintext authentication disallowed on non-secure connections.');
    if (mech === 'LOGIN') {
      const user = args[1] ? decodeB64(asText(args[1], 'initial response')) : await prompt(session, 'Username:');
      const pass = await prompt(session, 'Password:');
      await completeLogin(session, tag, user, pass);
      return;
    }
    let resp: string;
    if (args[1]) {
      resp = asText(args[1], 'initial response');
      if (resp === '=') resp = '';
    } else {
      session.continuation('');
      resp = (await session.nextLine()).trim();
    }
    if (resp === '*') throw bad('Authentication aborted');
    const [user, pass] = decodePlain(resp);
    await completeLogin(session, tag, user, pass);
  },
};

/** The SCRAM-SHA-256 exchange (RFC 5802 §5). An unknown user gets a made-up challenge and fails at the proof. */
async function scram(session: CommandContext['session'], tag: string, initial: string | undefined): Promise<void> {
  const server = new ScramServer();
  let first: string;
  if (initial !== undefined) first = decodeB64(initial === '=' ? '' : initial);
  else {
    session.continuation('');
    first = decodeB64((await session.nextLine()).trim());
  }
  let user: string;
  try {
    user = server.clientFirst(first);
  } catch (e) {
    if (e instanceof ScramError) throw bad(e.message);
    throw e;
  }
  refuseThrottled(session, user);
  if (userNameProblem(user)) return loginFailed(session, tag, user);
  const found = await session.env.scramCredentials!(user);
  // an unknown user gets made-up credentials, so the exchange looks the same (RFC 5802 §9)
  const creds = found?.creds ?? (await scramCredentialsAsync(Math.random().toString(36)));
  session.continuation(Buffer.from(server.serverFirst(creds)).toString('base64'));
  let final: string | null;
  try {
    final = server.clientFinal(decodeB64((await session.nextLine()).trim()));
  } catch (e) {
    if (e instanceof ScramError) throw bad(e.message);
    throw e;
  }
  if (!final || !found) return loginFailed(session, tag, user);
  session.continuation(Buffer.from(final).toString('base64'));
  const ack = (await session.nextLine()).trim();
  if (ack === '*') throw bad('Authentication aborted');
  await loginSucceeded(session, tag, found.user);
}
