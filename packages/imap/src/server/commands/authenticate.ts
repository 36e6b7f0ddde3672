/**
 * AUTHENTICATE (RFC 3501 §6.2.2) with PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login:
 * base64 "Username:" and "Password:" prompts), with an initial response (SASL-IR, RFC 4959).
 */
import type { CommandContext, CommandSpec } from '../context.js';
import { asText } from '../../protocol/tokens.js';
import { bad, no } from '../errors.js';
import { completeLogin } from './auth-common.js';

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
  session.write(`+ ${Buffer.from(text).toString('base64')}\r\n`);
  return decodeB64((await session.nextLine()).trim());
}

export const authenticate: CommandSpec = {
  name: 'AUTHENTICATE',
  states: ['not-authenticated'],
  async run({ session, tag, args }) {
    const mech = asText(args[0], 'mechanism').toUpperCase();
    if (mech !== 'PLAIN' && mech !== 'LOGIN') throw no('CANNOT', `Unsupported authentication mechanism ${mech.slice(0, 20)}`);
    if (!session.plaintextAllowed()) throw no('PRIVACYREQUIRED', 'Plaintext authentication disallowed on non-secure connections.');
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
      session.write('+ \r\n');
      resp = (await session.nextLine()).trim();
    }
    if (resp === '*') throw bad('Authentication aborted');
    const [user, pass] = decodePlain(resp);
    await completeLogin(session, tag, user, pass);
  },
};
