/** @rmb/rmb — the daemon (config, listeners, TLS, auth) and the admin CLI. */
export { loadConfig, DEFAULTS, type Config } from './config.js';
export { serve, type Running } from './serve.js';
export { PasswdFile, checkPassword, hashPassword, parsePasswd } from './passwd.js';
