/** What the admin commands of the CLI share: option shapes and opening the store around a command. */
import type { Command } from 'commander';
import pino from 'pino';
import type { MailStore } from '@rmb/librmb';
import type { Config } from './config.js';
import { openStore } from './serve.js';

/** Adds the options every command has (-c, -s) to a command. */
export type Common = (c: Command) => Command;
/** Loads the config of the command line, or exits naming the setting that is wrong. */
export type ConfigOrExit = (file: string | undefined, sets: string[]) => Config;
/** The options every admin command has. */
export interface Base {
  config?: string;
  set: string[];
  json?: boolean;
}

/**
 * Run `fn` on the store of `cfg`; afterwards the store's background work (compactions, log trims)
 * is awaited and the cluster closed. Throws what `fn` or opening the store throws.
 */
export async function withStore<T>(cfg: Config, fn: (store: MailStore, cfg: Config) => Promise<T>): Promise<T> {
  const { cluster, store } = await openStore(cfg, pino({ level: 'warn' }));
  try {
    return await fn(store, cfg);
  } finally {
    await store.settle();
    await cluster.close();
  }
}
