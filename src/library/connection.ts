import type { Logger } from 'pino';
import { ConfigError, EnvSchema, loadEnv, type Env } from '../env.js';

/** Variables that have an option of their own in {@link KeywardConnection}. */
type ConnectionVariable = 'DATABASE_URL' | 'REDIS_URL' | 'KEYWARD_SECRET' | 'KEYWARD_KEY_PREFIX' | 'REDIS_KEY_PREFIX';

/**
 * Variables only keyward's own server reads: its HTTP server, dashboard,
 * sessions, maintenance, and the argon2 cost of the hashes it issues (a
 * service only verifies hashes, whose cost is written in them).
 */
const SERVER_ONLY_VARIABLES = [
  'PORT',
  'HOST',
  'LOG_LEVEL',
  'KEYWARD_DATA_DIR',
  'KEYWARD_PUBLIC_ORIGIN',
  'KEYWARD_SIGNUP',
  'KEYWARD_SESSION_TTL_SECONDS',
  'KEYWARD_COOKIE_SECURE',
  'KEYWARD_ARGON2_MEMORY_KIB',
  'KEYWARD_ARGON2_TIME_COST',
  'KEYWARD_ARGON2_PARALLELISM',
  // The argon2 pool's queue for account operations: a service only checks keys.
  'KEYWARD_ARGON2_ACCOUNT_QUEUE_MAX',
  'KEYWARD_ARGON2_ACCOUNT_WAIT_MS',
  'KEYWARD_SIGNUP_EMAIL_LIMIT',
  'KEYWARD_MAX_ROTATION_GRACE_SECONDS',
  'KEYWARD_LOGIN_FAILURE_LIMIT',
  'KEYWARD_LOGIN_ADDRESS_FAILURE_LIMIT',
  'KEYWARD_LOGIN_FAILURE_WINDOW_SECONDS',
  'KEYWARD_TRUSTED_PROXY_HOPS',
  'KEYWARD_REQUEST_TIMEOUT_MS',
  'KEYWARD_USAGE_MINUTE_RETENTION_HOURS',
  'KEYWARD_USAGE_RETENTION_DAYS',
  'KEYWARD_AUDIT_RETENTION_DAYS',
  'KEYWARD_MAINTENANCE_INTERVAL_SECONDS',
  // Webhooks are delivered by keyward's servers only.
  'KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS',
  'KEYWARD_WEBHOOK_MAX_ENDPOINTS',
  'KEYWARD_WEBHOOK_TIMEOUT_MS',
  'KEYWARD_WEBHOOK_CONCURRENCY',
  'KEYWARD_WEBHOOK_POLL_INTERVAL_MS',
  'KEYWARD_WEBHOOK_BACKOFF_BASE_MS',
  'KEYWARD_WEBHOOK_BACKOFF_MAX_MS',
  'KEYWARD_WEBHOOK_MAX_AGE_SECONDS',
  'KEYWARD_WEBHOOK_RETENTION_DAYS',
] as const satisfies ReadonlyArray<keyof Env>;

/**
 * keyward's key-checking variables (cache size, lease, timeouts, limiter, usage),
 * by their README names and with their types, e.g. `{ KEYWARD_CACHE_MAX_KEYS: 50_000 }`.
 */
export type KeyCheckingSettings = Partial<Omit<Env, ConnectionVariable | (typeof SERVER_ONLY_VARIABLES)[number]>>;

const CONNECTION_VARIABLES: ReadonlySet<string> = new Set<ConnectionVariable>([
  'DATABASE_URL',
  'REDIS_URL',
  'KEYWARD_SECRET',
  'KEYWARD_KEY_PREFIX',
  'REDIS_KEY_PREFIX',
]);
const SERVER_ONLY: ReadonlySet<string> = new Set(SERVER_ONLY_VARIABLES);
/** Every name {@link KeyCheckingSettings} accepts, from the one schema of variables. */
export const KEY_CHECKING_SETTINGS: readonly string[] = Object.keys(EnvSchema.properties).filter(
  (name) => !CONNECTION_VARIABLES.has(name) && !SERVER_ONLY.has(name),
);

/** For a service of the fleet: where keyward's Postgres and Redis are, and its server secret. */
export interface KeywardConnection {
  /** keyward's DATABASE_URL. */
  databaseUrl: string;
  /** keyward's REDIS_URL. Omit only for a single-instance deployment. */
  redisUrl?: string;
  /** keyward's KEYWARD_SECRET (the same on every instance). */
  secret: string;
  /** keyward's KEYWARD_KEY_PREFIX, default `kw`. */
  keyPrefix?: string;
  /** keyward's REDIS_KEY_PREFIX, default `keyward:`. */
  redisKeyPrefix?: string;
  /** Any other key-checking variable; an unknown name is refused at startup. */
  settings?: KeyCheckingSettings;
}

/** Options of the framework-neutral checker: the connection, and where its own log lines go. */
export interface KeyCheckerOptions extends KeywardConnection {
  /** A pino logger; default: warnings and errors to standard error. */
  logger?: Logger;
}

/**
 * The configuration a service checks keys with: its options validated by the
 * same schema as keyward's environment. A misspelt or server-only setting is
 * an error, never silently ignored.
 */
export function connectionEnv(connection: KeywardConnection): Env {
  const settings: Record<string, unknown> = { ...connection.settings };
  const unknown = Object.keys(settings).filter((name) => !KEY_CHECKING_SETTINGS.includes(name));
  if (unknown.length > 0) {
    const why = unknown.map((name) =>
      SERVER_ONLY.has(name)
        ? `${name} is a setting of keyward's server, not of key checking`
        : CONNECTION_VARIABLES.has(name)
          ? `${name} has an option of its own (databaseUrl, redisUrl, secret, keyPrefix, redisKeyPrefix)`
          : `${name} is not a keyward setting`,
    );
    throw new ConfigError(`keyward: unknown settings: ${why.join('; ')}. Known: ${KEY_CHECKING_SETTINGS.join(', ')}.`);
  }
  if (!connection.databaseUrl) throw new ConfigError("keyward: databaseUrl (keyward's DATABASE_URL) is required.");
  if (!connection.secret) throw new ConfigError("keyward: secret (keyward's KEYWARD_SECRET) is required.");
  const source: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(settings)) source[name] = value === undefined ? undefined : String(value);
  return loadEnv({
    ...source,
    DATABASE_URL: connection.databaseUrl,
    REDIS_URL: connection.redisUrl,
    KEYWARD_SECRET: connection.secret,
    KEYWARD_KEY_PREFIX: connection.keyPrefix,
    REDIS_KEY_PREFIX: connection.redisKeyPrefix,
  });
}
