import type { BenchPlan } from '../config.js';
import type { BenchServerConfig } from '../servers/bench-server.js';
import { REDIS_URL, type BenchEnvironment, type BenchKey } from '../lib/environment.js';
import type { LoadGenerator, Log } from '../lib/load.js';
import type { ServerPool, ServerSpec } from '../lib/servers.js';

/** What every section gets from the run. */
export interface BenchContext {
  plan: BenchPlan;
  env: BenchEnvironment;
  /** The main bench database (plan.cold.smallRows filler keys plus the measured ones). */
  databaseUrl: string;
  /** A valid key, used by every load test. */
  hotKey: BenchKey;
  /** A second key of the in-memory set (bearer-auth style sets hold a few keys). */
  otherKey: BenchKey;
  /**
   * Restricted keys for the hot path: one with scopes [SCOPED_ROUTE_SCOPE] (sent to `/scoped`), one whose
   * allowedNetworks cover 127.0.0.0/8, where the load comes from (sent to `/secured`), one with a rate limit of
   * its own far above the load (plan.rateLimits.farLimit, sent to `/secured`; absent: not measured).
   */
  restrictedKeys: { scoped: BenchKey; networks: BenchKey; limited?: BenchKey };
  load: LoadGenerator;
  servers: ServerPool;
  /** better-auth's api-key plugin as a peer route: its key, or why it is not measured in this run. */
  betterAuth: { key: string } | { skipped: string };
  log(section: string): Log;
}

/** Failed checks are part of what some sections measure: this keeps them 401s instead of 429s. */
export const LIMITER_OFF = { KEYWARD_FAILED_AUTH_LIMIT: '1000000' };

/** The server configurations the sections share (one process each). */
export const SERVERS: Record<'default' | 'usageOn' | 'usageOff' | 'limiterOff' | 'limiterOffSecond', ServerSpec> = {
  /** keyward's defaults: the hot path, and the flood with the limiter at its default. */
  default: { name: 'default', peers: true },
  usageOn: { name: 'usage-on', settings: { KEYWARD_USAGE_TRACKING: 'true' } },
  usageOff: { name: 'usage-off', settings: { KEYWARD_USAGE_TRACKING: 'false' } },
  /** The flood with the limiter effectively off; also the server that warms Redis in the cold checks. */
  limiterOff: { name: 'limiter-off', settings: LIMITER_OFF, fleet: 'cold' },
  /** Same configuration, a second process: asked for keys that only Redis knows. */
  limiterOffSecond: { name: 'limiter-off-second', settings: LIMITER_OFF, fleet: 'cold' },
};

/** A bench server's configuration: the run's secret and keys, in the Redis fleet its spec names. */
export function serverConfig(
  env: BenchEnvironment,
  databaseUrl: string,
  setKeys: BenchKey[],
  spec: ServerSpec,
  betterAuthDatabaseUrl: string | undefined,
): BenchServerConfig {
  return {
    databaseUrl: spec.databaseUrl ?? databaseUrl,
    redisUrl: REDIS_URL,
    redisKeyPrefix: env.prefix(spec.fleet ?? spec.name),
    secret: env.secret,
    settings: spec.settings ?? {},
    setKeys: setKeys.map((key) => key.key),
    naivePrefix: env.prefix('naive'),
    betterAuth: spec.peers && betterAuthDatabaseUrl ? { databaseUrl: betterAuthDatabaseUrl } : undefined,
  };
}
