/**
 * QUOTA (RFC 9208): one quota root "" per user covering all mailboxes, with the resources
 * STORAGE (in units of 1024 octets, RFC 9208 §5.1) and MESSAGE (§5.2) when a limit is set;
 * usage summed from every mailbox's index counters. GETQUOTAROOT names the root of a mailbox,
 * GETQUOTA reports it, SETQUOTA is refused (limits come from the server's configuration, or the
 * user's own limits set by the administrator with `rmb user quota`).
 */
import type { UserStore } from '@rmb/librmb';
import type { CommandSpec } from '../context.js';
import { asAstring, expectArgs } from '../../protocol/tokens.js';
import { str } from '../../protocol/encode.js';
import { no } from '../errors.js';

/** The `* QUOTA "" (...)` line for a user. One read of every mailbox's counters. */
async function quotaLine(user: UserStore): Promise<string> {
  const [q, u] = await Promise.all([user.quotaLimits(), user.usage()]);
  const res: string[] = [];
  if (q.storageBytes) res.push(`STORAGE ${Math.ceil(u.storageBytes / 1024)} ${Math.floor(q.storageBytes / 1024)}`);
  if (q.messages) res.push(`MESSAGE ${u.messages} ${q.messages}`);
  return `* QUOTA "" (${res.join(' ')})\r\n`;
}

async function hasQuota(user: UserStore): Promise<boolean> {
  const q = await user.quotaLimits();
  return !!(q.storageBytes || q.messages);
}

export const getquotaroot: CommandSpec = {
  name: 'GETQUOTAROOT',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1);
    const name = session.mailboxArg(args[0]);
    const mb = await user.mailbox(name); // NO [NONEXISTENT] when there is none
    if (!(await hasQuota(user))) {
      session.write(`* QUOTAROOT ${str(session.mailboxOut(mb.name))}\r\n`);
    } else {
      session.write([`* QUOTAROOT ${str(session.mailboxOut(mb.name))} ""\r\n`, await quotaLine(user)]);
    }
    await session.ok(tag, 'Getquotaroot completed.');
  },
};

export const getquota: CommandSpec = {
  name: 'GETQUOTA',
  states: ['authenticated', 'selected'],
  needs: 'user',
  async run({ session, user, tag, args }) {
    expectArgs(args, 1);
    if (asAstring(args[0], 'quota root') !== '' || !(await hasQuota(user)))
      throw no('NONEXISTENT', 'No such quota root');
    session.write(await quotaLine(user));
    await session.ok(tag, 'Getquota completed.');
  },
};

export const setquota: CommandSpec = {
  name: 'SETQUOTA',
  states: ['authenticated', 'selected'],
  async run() {
    // RFC 9208 §4.1.4: a server may refuse; limits are the administrator's (rmb's configuration)
    throw no('NOPERM', 'Quota limits are set by the administrator');
  },
};
