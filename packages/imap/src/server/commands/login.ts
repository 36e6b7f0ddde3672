/** LOGIN (RFC 3501 §6.2.3); refused on cleartext from untrusted peers (LOGINDISABLED). */
import type { CommandSpec } from '../context.js';
import { asAstring, expectArgs } from '../../protocol/tokens.js';
import { no } from '../errors.js';
import { completeLogin } from './auth-common.js';

export const login: CommandSpec = {
  name: 'LOGIN',
  states: ['not-authenticated'],
  async run({ session, tag, args }) {
    expectArgs(args, 2);
    if (!session.plaintextAllowed())
      throw no('PRIVACYREQUIRED', 'Plaintext authentication disallowed on non-secure connections.');
    await completeLogin(session, tag, asAstring(args[0], 'user name'), asAstring(args[1], 'password'));
  },
};
