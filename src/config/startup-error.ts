import { ConfigError } from './env.js';

/** Start-up failures in one readable line (a configuration problem needs no stack trace). */
export function reportStartupError(error: unknown): never {
  console.error(error instanceof ConfigError ? error.message : `keyward failed to start: ${String(error)}`);
  process.exit(1);
}
