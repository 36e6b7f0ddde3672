/** The command registry: every IMAP command module, by name. */
import type { CommandSpec } from '../context.js';
import { append } from './append.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { check } from './check.js';
import { copy, move } from './copy.js';
import { create } from './create.js';
import { del } from './delete.js';
import { enable } from './enable.js';
import { close, expunge } from './expunge.js';
import { fetch } from './fetch.js';
import { id } from './id.js';
import { idle } from './idle.js';
import { listCommand, lsubCommand } from './list.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { namespace } from './namespace.js';
import { noop } from './noop.js';
import { rename } from './rename.js';
import { search } from './search.js';
import { sort, thread } from './sort.js';
import { getquota, getquotaroot, setquota } from './quota.js';
import { getmetadata, setmetadata } from './metadata.js';
import { examine, select } from './select.js';
import { starttls } from './starttls.js';
import { compress } from './compress.js';
import { unauthenticate } from './unauthenticate.js';
import { status } from './status.js';
import { store } from './store.js';
import { subscribe, unsubscribe } from './subscribe.js';
import { unselect } from './unselect.js';

const ALL: CommandSpec[] = [
  capability,
  noop,
  logout,
  starttls,
  compress,
  unauthenticate,
  login,
  authenticate,
  select,
  examine,
  create,
  del,
  rename,
  subscribe,
  unsubscribe,
  listCommand,
  lsubCommand,
  status,
  append,
  check,
  close,
  expunge,
  search,
  fetch,
  store,
  copy,
  move,
  idle,
  namespace,
  unselect,
  id,
  enable,
  sort,
  thread,
  getquota,
  getquotaroot,
  setquota,
  getmetadata,
  setmetadata,
];

export const COMMANDS = new Map<string, CommandSpec>(ALL.map((c) => [c.name, c]));
