import { performance } from 'node:perf_hooks';
/**
 * Test infrastructure. Services come from, in order: TEST_DATABASE_URL /
 * TEST_REDIS_URL; the local defaults when they answer; testcontainers when a
 * container engine exists. Each test file gets its own database (dropped
 * after) and its own Redis key prefix, so files run in parallel.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { Test } from 'tap';
import { Redis } from 'ioredis';
import pino from 'pino';
import { startServer, type ServerProcess } from './process/server-process.js';
import postgres from 'postgres';
import { buildApp, LOG_REDACT, type KeywardApp } from '../src/app/app.js';
import { migratePostgresDatabase, MIGRATIONS_FOLDER } from '../src/db/database.js';
import { loadEnv } from '../src/config/env.js';
import { openRuntime, type Runtime } from '../src/app/runtime.js';

const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function startContainers(): Promise<{ databaseUrl: string; redisUrl: string }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const pg = await new GenericContainer('postgres:16-alpine')
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withReuse()
    .start();
  const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).withReuse().start();
  return {
    databaseUrl: `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`,
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
  };
}

let servicesPromise: Promise<{ databaseUrl: string; redisUrl: string }> | undefined;

/** Admin Postgres URL and Redis URL for this test run. */
export function testServices(): Promise<{ databaseUrl: string; redisUrl: string }> {
  servicesPromise ??= (async () => {
    const databaseUrl = process.env.TEST_DATABASE_URL;
    const redisUrl = process.env.TEST_REDIS_URL;
    if (databaseUrl && redisUrl) return { databaseUrl, redisUrl };
    if ((databaseUrl ?? (await answers(LOCAL_DATABASE_URL))) && (redisUrl ?? (await answers(LOCAL_REDIS_URL)))) {
      return { databaseUrl: databaseUrl ?? LOCAL_DATABASE_URL, redisUrl: redisUrl ?? LOCAL_REDIS_URL };
    }
    try {
      return await startContainers();
    } catch (error) {
      throw new Error(
        'Tests need Postgres and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL, run them on ' +
          '127.0.0.1:5432 (user postgres) and 127.0.0.1:6379, or provide a container engine for testcontainers. ' +
          `(testcontainers: ${(error as Error).message})`,
      );
    }
  })();
  return servicesPromise;
}

/**
 * The name of a database holding every migration in drizzle/, built once per set of migrations: copying it
 * (CREATE DATABASE … TEMPLATE) costs a fraction of migrating each test's database from scratch.
 */
async function migratedTemplate(admin: postgres.Sql, databaseUrl: string): Promise<string> {
  const migrations = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(MIGRATIONS_FOLDER, file);
    if (statSync(path).isFile()) migrations.update(file).update(readFileSync(path));
  }
  const name = `keyward_template_${migrations.digest('hex').slice(0, 16)}`;
  const exists = async () => (await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`).length > 0;
  if (await exists()) return name;
  // Test files run in parallel: one builds the template, the others wait on the lock and then find it.
  await admin`SELECT pg_advisory_lock(${TEMPLATE_LOCK_ID})`;
  try {
    if (await exists()) return name;
    const building = `${name}_building`;
    await admin.unsafe(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${building}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${building}`;
    await migratePostgresDatabase(url.toString());
    // Renamed only once complete, so no one copies a half-migrated template.
    await admin.unsafe(`ALTER DATABASE ${building} RENAME TO ${name}`);
    for (const { datname } of await admin`
      SELECT datname FROM pg_database WHERE starts_with(datname, 'keyward_template_') AND datname <> ${name}`) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
    return name;
  } finally {
    await admin`SELECT pg_advisory_unlock(${TEMPLATE_LOCK_ID})`;
  }
}

const TEMPLATE_LOCK_ID = 0x6b777474; // "kwtt"
let templatePromise: Promise<string> | undefined;

/** A fresh, migrated database for this test (a copy of the migrated template), dropped in teardown. */
export async function createTestDatabase(t: Test): Promise<string> {
  const { databaseUrl } = await testServices();
  const name = `keyward_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  templatePromise ??= migratedTemplate(admin, databaseUrl);
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${await templatePromise}`);
  } catch (error) {
    // Checkouts with other migrations share this Postgres, and the one that builds its template drops the
    // others: build ours again (invalid_catalog_name: the template is gone).
    if ((error as { code?: string }).code !== '3D000') throw error;
    templatePromise = migratedTemplate(admin, databaseUrl);
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${await templatePromise}`);
  }
  t.teardown(async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A unique Redis key prefix for this test; its keys are deleted in teardown. */
export async function createRedisPrefix(t: Test): Promise<{ redisUrl: string; prefix: string }> {
  const { redisUrl } = await testServices();
  const prefix = `keyward_test:${randomBytes(6).toString('hex')}:`;
  t.teardown(async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { redisUrl, prefix };
}

/** Cheap argon2 for tests; the default cost is checked by its own test. */
export const TEST_ARGON2 = { KEYWARD_ARGON2_MEMORY_KIB: '1024', KEYWARD_ARGON2_TIME_COST: '1' };

/** Tests sign up many accounts from one address; the tests of the sign-up limit set their own. */
const MANY_SIGNUPS = { KEYWARD_SIGNUP_ADDRESS_LIMIT: '1000000', KEYWARD_SIGNUP_EMAIL_LIMIT: '1000000' };

export interface TestLog {
  lines: string[];
  text(): string;
}

export interface TestApp {
  app: KeywardApp;
  runtime: Runtime;
  /** Every log line the app wrote, for asserting that no secret is logged. */
  log: TestLog;
  databaseUrl?: string;
  redisPrefix?: string;
}

/**
 * Builds the real app. `embedded: true` runs it on in-memory PGlite with the
 * in-process cache and bus, as `npm start` does without DATABASE_URL.
 */
export async function buildTestApp(
  t: Test,
  options: { embedded?: boolean; env?: Record<string, string> } = {},
): Promise<TestApp> {
  const lines: string[] = [];
  const stream = { write: (line: string) => void lines.push(line) };
  const log: TestLog = { lines, text: () => lines.join('') };
  const env: Record<string, string> = {
    ...TEST_ARGON2,
    ...MANY_SIGNUPS,
    KEYWARD_SECRET: randomBytes(32).toString('base64url'),
    // The plain cookie name, as startKeywardProcess; tests of the Secure __Host- cookie set it to true.
    KEYWARD_COOKIE_SECURE: 'false',
    LOG_LEVEL: 'info',
  };
  let databaseUrl: string | undefined;
  let redisPrefix: string | undefined;
  if (!options.embedded) {
    databaseUrl = await createTestDatabase(t);
    const redis = await createRedisPrefix(t);
    redisPrefix = redis.prefix;
    Object.assign(env, { DATABASE_URL: databaseUrl, REDIS_URL: redis.redisUrl, REDIS_KEY_PREFIX: redis.prefix });
  }
  Object.assign(env, options.env);
  const logger = pino({ level: 'info', redact: LOG_REDACT }, stream);
  const runtime = await openRuntime(loadEnv(env), logger, { skipMigrations: true, inMemory: options.embedded });
  const app = await buildApp(runtime, { level: 'info', redact: LOG_REDACT, stream });
  t.teardown(async () => {
    await app.close();
    await runtime.close();
  });
  await app.ready();
  return { app, runtime, log, databaseUrl, redisPrefix };
}

let emailCounter = 0;

/** Signs up a fresh account; returns the session cookie header and ids. */
export async function signUp(app: KeywardApp, name = 'Acme') {
  const email = `user${++emailCounter}-${randomBytes(4).toString('hex')}@example.com`;
  const password = 'correct horse battery';
  const response = await app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { email, password, accountName: name },
  });
  if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.body}`);
  const cookie = response.cookies.find((c) => c.name === 'keyward_session');
  const body = response.json();
  return {
    email,
    password,
    cookie: `keyward_session=${cookie!.value}`,
    accountId: body.account.id as string,
    userId: body.user.id as string,
  };
}

/** Creates a key through the API; returns the full key and its id. */
export async function createKey(app: KeywardApp, cookie: string, name?: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie },
    payload: name ? { name } : {},
  });
  if (response.statusCode !== 201) throw new Error(`create key failed: ${response.statusCode} ${response.body}`);
  const body = response.json();
  return { apiKey: body.apiKey as string, keyId: body.key.id as string };
}

export function callMe(app: KeywardApp, apiKey: string | undefined) {
  return app.inject({ method: 'GET', url: '/v1/me', headers: apiKey === undefined ? {} : { 'x-api-key': apiKey } });
}

export interface CallSample {
  /** performance.now() when the request was sent. */
  sentAt: number;
  status: number;
  code?: string;
}

/**
 * A client that keeps calling /v1/me with `apiKey`, `intervalMs` apart, until
 * `stop()` (or the test's end, or the app closing). `samples` fills as it goes.
 */
export function keepCalling(t: Test, app: KeywardApp, apiKey: string, intervalMs: number) {
  const samples: CallSample[] = [];
  let calling = true;
  const loop = (async () => {
    while (calling) {
      const sentAt = performance.now();
      const response = await callMe(app, apiKey).catch(() => null);
      if (response === null) break; // the app was closed: the test ended early
      samples.push({ sentAt, status: response.statusCode, code: response.json().error?.code });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  const stop = () => {
    calling = false;
    return loop;
  };
  t.teardown(stop);
  return { samples, stop };
}

/**
 * keyward as `npm start` runs it (a real process), on a fresh database and
 * Redis prefix with a secret of its own; `env` adds or overrides settings.
 * Stopped at the end of the test, before its database is dropped.
 */
export async function startKeywardProcess(
  t: Test,
  env: Record<string, string> = {},
): Promise<ServerProcess & { env: Record<string, string> }> {
  const databaseUrl = await createTestDatabase(t);
  const { redisUrl, prefix } = await createRedisPrefix(t);
  const serverEnv = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEYWARD_SECRET: randomBytes(32).toString('base64url'),
    KEYWARD_COOKIE_SECURE: 'false',
    LOG_LEVEL: 'info', // startServer waits for the "Server listening" line
    ...TEST_ARGON2,
    ...MANY_SIGNUPS,
    ...env,
  };
  const server = await startServer(serverEnv);
  // Teardowns run last-registered first: the server stops before its database is dropped.
  t.teardown(() => server.stop('SIGKILL'));
  return { ...server, env: serverEnv };
}

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
      ...TEST_ARGON2,
      ...MANY_SIGNUPS,
      LOG_LEVEL: 'info',
      DATABASE_URL: fleet.databaseUrl,
      REDIS_URL: fleet.redisUrl,
      REDIS_KEY_PREFIX: fleet.redisPrefix,
      KEYWARD_SECRET: fleet.secret,
      KEYWARD_COOKIE_SECURE: 'false',
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
