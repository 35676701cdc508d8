/**
 * The services tests run against. Services come from, in order: TEST_DATABASE_URL /
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
import postgres from 'postgres';
import { migratePostgresDatabase, MIGRATIONS_FOLDER } from '../../src/db/database.js';

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
export const MANY_SIGNUPS = { KEYWARD_SIGNUP_ADDRESS_LIMIT: '1000000', KEYWARD_SIGNUP_EMAIL_LIMIT: '1000000' };

/** What every test keyward runs with: cheap argon2, many sign-ups, the plain cookie name, info logs. */
export const TEST_SETTINGS = {
  ...TEST_ARGON2,
  ...MANY_SIGNUPS,
  // The plain cookie name; tests of the Secure __Host- cookie set it to true.
  KEYWARD_COOKIE_SECURE: 'false',
  LOG_LEVEL: 'info', // startServer waits for the "Server listening" line
};
