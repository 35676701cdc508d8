import type { FastifyBaseLogger } from 'fastify';
import { openPostgres, type DatabaseHandle, type PostgresOptions } from '../db/database.js';
import { ConfigError, type Env } from '../config/env.js';
import { ApiKeyAuthenticator, type KeyCheckCounter } from '../key-check/api-key-authenticator.js';
import { openKeyChecking, type KeyChecking } from '../key-check/open-key-checking.js';
import { SecretHasher } from '../keys/secret-hashing.js';
import type { ColdCheckObserver } from '../key-check/key-checker.js';
import { quotaThresholdNotices } from '../rate-limits/quota-notices.js';

/**
 * The one rule for every Postgres pool keyward opens, in its server and in the
 * services that check keys with it: a statement and a connection attempt may
 * each take KEYWARD_DATABASE_TIMEOUT_MS, the time after which a key check
 * answers 503. (Transactions set their own, tighter, limits on top.)
 */
export function postgresOptions(env: Env, url: string): PostgresOptions {
  return {
    url,
    poolSize: env.DATABASE_POOL_SIZE,
    statementTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    connectTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
  };
}

/** The process's one argon2 pool: key checks, and in the server sign-ups, sign-ins and new keys. */
export function secretHasher(env: Env): SecretHasher {
  return new SecretHasher(
    {
      memoryKib: env.KEYWARD_ARGON2_MEMORY_KIB,
      timeCost: env.KEYWARD_ARGON2_TIME_COST,
      parallelism: env.KEYWARD_ARGON2_PARALLELISM,
    },
    {
      concurrency: env.KEYWARD_ARGON2_CONCURRENCY,
      keyCheckQueueMax: env.KEYWARD_ARGON2_QUEUE_MAX,
      accountQueueMax: env.KEYWARD_ARGON2_ACCOUNT_QUEUE_MAX,
      accountWaitMs: env.KEYWARD_ARGON2_ACCOUNT_WAIT_MS,
    },
  );
}

/** What every process that checks keys opens, keyward's server and the fleet's services alike. */
export interface KeywardCore {
  env: Env;
  /** Keys the digests kept in the hot tiers. */
  serverSecret: string;
  database: DatabaseHandle;
  hasher: SecretHasher;
  keyChecking: KeyChecking;
  /** Key checking (flushes usage, leaves the fleet, closes Redis), then the database. */
  close(): Promise<void>;
}

/**
 * The composition root of key checking. The server passes the database it
 * opened (PGlite in embedded mode); everyone else has this open Postgres at
 * DATABASE_URL. Either way the core owns the database and closes it.
 */
export async function openCore(
  env: Env,
  log: FastifyBaseLogger,
  options: { serverSecret: string; database?: DatabaseHandle; observer?: ColdCheckObserver },
): Promise<KeywardCore> {
  let database = options.database;
  if (!database) {
    if (!env.DATABASE_URL) throw new ConfigError('keyward: a database URL is required to check keys.');
    database = openPostgres(postgresOptions(env, env.DATABASE_URL));
  }
  const hasher = secretHasher(env);
  let keyChecking: KeyChecking;
  try {
    keyChecking = await openKeyChecking(env, {
      db: database.db,
      hasher,
      serverSecret: options.serverSecret,
      log,
      observer: options.observer,
      onGrant: quotaThresholdNotices(database.db, log),
    });
  } catch (error) {
    await database.close();
    throw error;
  }
  const opened = database;
  return {
    env,
    serverSecret: options.serverSecret,
    database: opened,
    hasher,
    keyChecking,
    close: async () => {
      await keyChecking.close();
      await opened.close();
    },
  };
}

/** The per-request decision (limiter, check, usage) over open key checking, for any framework. */
export function createAuthenticator(keyChecking: KeyChecking, counter?: KeyCheckCounter): ApiKeyAuthenticator {
  return new ApiKeyAuthenticator(
    keyChecking.checker,
    keyChecking.failedChecks,
    keyChecking.usage,
    counter,
    keyChecking.rateLimits,
  );
}
