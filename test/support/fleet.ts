/** A fleet in one process: several keyward instances sharing one database, Redis prefix and secret. */
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import pino from 'pino';
import { buildApp, LOG_REDACT, type KeywardApp } from '../../src/app/app.js';
import { loadEnv } from '../../src/config/env.js';
import { openRuntime, type Runtime } from '../../src/app/runtime.js';
import { createRedisPrefix, createTestDatabase, TEST_SETTINGS } from './services.js';

/** One database, Redis prefix and server secret that several in-process instances share: a fleet. */
export interface FleetServices {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  secret: string;
}

export async function createFleetServices(t: Test): Promise<FleetServices> {
  const databaseUrl = await createTestDatabase(t);
  const { redisUrl, prefix } = await createRedisPrefix(t);
  return { databaseUrl, redisUrl, redisPrefix: prefix, secret: randomBytes(32).toString('base64url') };
}

export interface FleetInstance {
  app: KeywardApp;
  runtime: Runtime;
  lines: string[];
  /** app.close() then runtime.close(), as the server's shutdown does; idempotent. */
  close(): Promise<void>;
}

/** One in-process keyward instance on the fleet's database, Redis prefix and secret. */
export async function startFleetInstance(
  t: Test,
  fleet: FleetServices,
  env: Record<string, string> = {},
): Promise<FleetInstance> {
  const lines: string[] = [];
  const stream = { write: (line: string) => void lines.push(line) };
  const runtime = await openRuntime(
    loadEnv({
      ...TEST_SETTINGS,
      DATABASE_URL: fleet.databaseUrl,
      REDIS_URL: fleet.redisUrl,
      REDIS_KEY_PREFIX: fleet.redisPrefix,
      KEYWARD_SECRET: fleet.secret,
      ...env,
    }),
    pino({ level: 'info', redact: LOG_REDACT }, stream),
    { skipMigrations: true },
  );
  const app = await buildApp(runtime, { level: 'info', redact: LOG_REDACT, stream });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await runtime.close();
    })());
  t.teardown(close);
  await app.ready();
  return { app, runtime, lines, close };
}

/** startFleetInstance with a file's own settings, which `env` may still override. */
export function fleetInstanceStarter(defaults: Record<string, string>) {
  return (t: Test, fleet: FleetServices, env: Record<string, string> = {}) =>
    startFleetInstance(t, fleet, { ...defaults, ...env });
}
