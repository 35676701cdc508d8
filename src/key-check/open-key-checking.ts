import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { Database } from '../db/database.js';
import type { Env } from '../config/env.js';
import { writeUsageBatch } from '../usage/usage-writes.js';
import type { SecretHasher } from '../keys/secret-hashing.js';
import { keyEventLog } from '../fleet/key-event-log.js';
import { clientSubjects } from './client-subject.js';
import { FailureLimiter } from './failure-limiter.js';
import type { FleetSync } from '../fleet/fleet-sync.js';
import { KeyCache } from '../../packages/member/src/key-cache.js';
import { KeyChecker, type ColdCheckObserver } from './key-checker.js';
import { LocalFleetSync } from '../fleet/local-fleet-sync.js';
import { RedisFleetSync } from '../fleet/redis-fleet-sync.js';
import { UsageRecorder, type UsageBatchWriter } from '../../packages/member/src/usage-recorder.js';
import { RateLimiter } from '../../packages/member/src/rate-limiter.js';
import type { BudgetGrant, BudgetRequest } from '../../packages/member/src/rate-limits.js';
import { LocalBudgets, RedisBudgets, type FleetBudgets } from '../rate-limits/budget-sources.js';
import { defaultAccountLimits } from '../rate-limits/account-plans.js';

/** Most distinct callers (address × user agent) kept per key per minute. */
export const MAX_CALLERS_PER_KEY = 100;

/** Usage batches written to keyward's Postgres (idempotent per batch id: see usage-writes.ts). */
export function postgresUsageWriter(db: Database, env: Env): UsageBatchWriter {
  const limits = {
    statementTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    idleTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
  };
  return (batchId, minutes) => writeUsageBatch(db, limits, batchId, minutes);
}

/** Everything an instance needs to check keys and hear about changes to them. */
export interface KeyChecking {
  checker: KeyChecker;
  fleet: FleetSync;
  failedChecks: FailureLimiter;
  /**
   * Another fleet-wide failure counter on the same connection (e.g. for sign-ins). `per-client`:
   * its subjects are client addresses, counted as the key check's are (IPv6 per network).
   */
  limiter(name: string, limit: number, windowSeconds: number, subjects?: 'per-client'): FailureLimiter;
  /** null when KEYWARD_USAGE_TRACKING is off. */
  usage: UsageRecorder | null;
  /** Keys' and accounts' rate limits and quotas, counted with the fleet. */
  rateLimits: RateLimiter;
  /** The counts those limits are reserved from (the fleet's Redis, or this process alone), to read them. */
  budgets: FleetBudgets;
  /** Flushes usage, leaves the fleet, closes Redis (the database is the caller's). */
  close(): Promise<void>;
}

/** Opens the tiers: in-process cache, Redis hot set and events (if REDIS_URL), Postgres. */
export async function openKeyChecking(
  env: Env,
  deps: {
    db: Database;
    hasher: SecretHasher;
    serverSecret: string;
    log: FastifyBaseLogger;
    observer?: ColdCheckObserver;
    /** Told of every budget granted (quota thresholds). */
    onGrant?: (request: BudgetRequest, grant: BudgetGrant) => void;
  },
): Promise<KeyChecking> {
  const cache = new KeyCache(
    env.KEYWARD_CACHE_MAX_KEYS,
    env.KEYWARD_CACHE_TTL_SECONDS * 1000,
    env.KEYWARD_NEGATIVE_CACHE_TTL_SECONDS * 1000,
  );
  let fleet: FleetSync;
  let redis: Redis | null = null;
  const budgets: FleetBudgets = env.REDIS_URL
    ? new RedisBudgets(env.REDIS_URL, env.REDIS_KEY_PREFIX, env.KEYWARD_RATE_LIMIT_TIMEOUT_MS, deps.db)
    : new LocalBudgets(deps.db);
  let lastFallbackLog = 0;
  const rateLimits = new RateLimiter({
    source: budgets,
    timeoutMs: env.KEYWARD_RATE_LIMIT_TIMEOUT_MS,
    onFallback: (error) => {
      if (Date.now() - lastFallbackLog < 10_000) return;
      lastFallbackLog = Date.now();
      deps.log.warn({ err: error }, "rate limits: no budget from Redis; admitting this instance's share of each limit");
    },
    onGrant: deps.onGrant,
  });
  if (env.REDIS_URL) {
    const redisFleet = await RedisFleetSync.start({
      redisUrl: env.REDIS_URL,
      keyPrefix: env.REDIS_KEY_PREFIX,
      cache,
      eventLog: keyEventLog(deps.db),
      log: deps.log,
      leaseMs: env.KEYWARD_LEASE_MS,
      hotTimeoutMs: env.KEYWARD_REDIS_TIMEOUT_MS,
      hotSetTtlMs: env.KEYWARD_HOT_SET_TTL_SECONDS * 1000,
      relayIntervalMs: env.KEYWARD_RELAY_INTERVAL_MS,
      revokeConfirmTimeoutMs: env.KEYWARD_REVOKE_CONFIRM_TIMEOUT_MS,
    });
    fleet = redisFleet;
    redis = redisFleet.hotConnection;
  } else {
    fleet = new LocalFleetSync(cache);
  }
  const clientSubject = clientSubjects(env.KEYWARD_LIMITER_IPV6_PREFIX);
  const limiter = (name: string, limit: number, windowSeconds: number, subjects?: 'per-client') =>
    new FailureLimiter(
      limit,
      windowSeconds * 1000,
      redis && { connection: redis, keyPrefix: env.REDIS_KEY_PREFIX, name },
      subjects === 'per-client' ? clientSubject : undefined,
    );
  const failedChecks = limiter(
    'failed',
    env.KEYWARD_FAILED_AUTH_LIMIT,
    env.KEYWARD_FAILED_AUTH_WINDOW_SECONDS,
    'per-client',
  );
  const checker = new KeyChecker({
    db: deps.db,
    hasher: deps.hasher,
    cache,
    fleet,
    serverSecret: deps.serverSecret,
    keyPrefix: env.KEYWARD_KEY_PREFIX,
    databaseTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    accountDefaults: defaultAccountLimits(env),
    observer: deps.observer,
  });
  const usage = env.KEYWARD_USAGE_TRACKING
    ? new UsageRecorder({
        write: postgresUsageWriter(deps.db, env),
        log: deps.log,
        flushIntervalMs: env.KEYWARD_USAGE_FLUSH_MS,
        // One transaction of a few statements, each bounded by the database timeout.
        flushTimeoutMs: 2 * env.KEYWARD_DATABASE_TIMEOUT_MS,
        maxKeysPerMinute: env.KEYWARD_CACHE_MAX_KEYS,
        maxCallersPerKey: MAX_CALLERS_PER_KEY,
      })
    : null;
  return {
    checker,
    fleet,
    failedChecks,
    limiter,
    usage,
    rateLimits,
    budgets,
    close: async () => {
      await usage?.close();
      await fleet.close();
      budgets.close();
    },
  };
}
