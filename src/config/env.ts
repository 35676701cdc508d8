import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MAX_PREFIX_LENGTH } from '../../packages/member/src/key-format.js';

/**
 * Every environment variable keyward reads, with its default. The README's
 * configuration table is written from this schema; keep the two in step.
 */
export const EnvSchema = Type.Object({
  /** TCP port the HTTP server listens on. */
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  /** Interface to bind; `0.0.0.0` in containers. */
  HOST: Type.String({ minLength: 1, default: 'localhost' }),
  /** pino log level. */
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' },
  ),
  /** Postgres connection URL. Unset: embedded PGlite in KEYWARD_DATA_DIR (single instance). */
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  /** Most connections each instance opens to Postgres. */
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  /** Redis connection URL. Unset: in-process cache and event bus (single instance). */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  /** Prefix of every Redis key and channel keyward uses, so deployments can share a Redis. */
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]{1,64}$', default: 'keyward:' }),
  /** Folder of the embedded database and generated secret (embedded mode only). */
  KEYWARD_DATA_DIR: Type.String({ minLength: 1, default: '.keyward' }),
  /**
   * Server secret (at least 32 characters) keying the digests kept in the hot
   * tiers. Required with DATABASE_URL; embedded mode generates one into the data folder.
   */
  KEYWARD_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /** Prefix of every key this deployment issues, e.g. `kw` gives `kw_…`. */
  KEYWARD_KEY_PREFIX: Type.String({ pattern: `^[a-z][a-z0-9]{0,${MAX_PREFIX_LENGTH - 1}}$`, default: 'kw' }),
  /**
   * A JSON file of this deployment's scopes and their descriptions (`{"orders:read": "Read orders"}`): keys
   * may then be limited to these scopes only, and the dashboard offers them. Unset: scopes are free-form.
   */
  KEYWARD_SCOPES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Origin of the dashboard as browsers see it (e.g. `https://keys.example.com`);
   * cookie-authenticated changes from any other Origin are refused. Unset: the
   * request's own Host.
   */
  KEYWARD_PUBLIC_ORIGIN: Type.Optional(Type.String({ pattern: '^https?://[^/]+$' })),
  /** `closed`: POST /v1/signup is refused; operators create accounts with `keyward create-account`. */
  KEYWARD_SIGNUP: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' }),
  /** Lifetime of a dashboard session, in seconds. */
  KEYWARD_SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 2_592_000, default: 43_200 }),
  /** Mark the session cookie `Secure`. Unset: on with DATABASE_URL or NODE_ENV=production, else off. */
  KEYWARD_COOKIE_SECURE: Type.Optional(Type.Boolean()),
  /** argon2id memory cost in KiB for key secrets and passwords (OWASP: 19456). */
  KEYWARD_ARGON2_MEMORY_KIB: Type.Integer({ minimum: 1024, maximum: 4_194_304, default: 19_456 }),
  /** argon2id iterations (OWASP: 2). */
  KEYWARD_ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  /** argon2id lanes (OWASP: 1). */
  KEYWARD_ARGON2_PARALLELISM: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  /** Most keys each instance keeps in its in-process cache. */
  KEYWARD_CACHE_MAX_KEYS: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  /** Hard TTL of an in-process cache entry, in seconds: after it the key is re-read from Redis. */
  KEYWARD_CACHE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  /** How long an unknown key id is remembered as unknown, in seconds. */
  KEYWARD_NEGATIVE_CACHE_TTL_SECONDS: Type.Integer({ minimum: 0, maximum: 3600, default: 10 }),
  /** TTL of an entry in the Redis hot lookup set, in seconds. */
  KEYWARD_HOT_SET_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 2_592_000, default: 86_400 }),
  /**
   * How long an instance trusts its in-process cache after proving it hears
   * revocation events, in milliseconds. Also the longest a revoke call waits
   * for an instance that stopped answering.
   */
  KEYWARD_LEASE_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1500 }),
  /** Longest a request waits on Redis before carrying on without it, in milliseconds. */
  KEYWARD_REDIS_TIMEOUT_MS: Type.Integer({ minimum: 5, maximum: 10_000, default: 50 }),
  /** Longest a key check or change waits on Postgres before answering 503, in milliseconds. */
  KEYWARD_DATABASE_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 2000 }),
  /** How often each instance relays key events that never reached Redis, in milliseconds. */
  KEYWARD_RELAY_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
  /** How long a revoke waits for another instance to relay its event when Redis is unreachable from it. */
  KEYWARD_REVOKE_CONFIRM_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 5000 }),
  /**
   * argon2 hashes and verifications run at once per instance, all of them (cold key checks, sign-ups,
   * sign-ins, new keys); more wait in two queues, key checks served first.
   */
  KEYWARD_ARGON2_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  /** Cold checks that may wait for argon2 per instance; beyond it they answer 503 at once. */
  KEYWARD_ARGON2_QUEUE_MAX: Type.Integer({ minimum: 0, maximum: 100_000, default: 256 }),
  /**
   * Account operations (sign-up, sign-in, key creation and rotation) that may wait for argon2 per instance,
   * behind every waiting key check; beyond it they answer 503 server_busy with Retry-After at once.
   */
  KEYWARD_ARGON2_ACCOUNT_QUEUE_MAX: Type.Integer({ minimum: 0, maximum: 100_000, default: 32 }),
  /**
   * Longest an account operation waits for argon2, in milliseconds, while key checks keep it behind;
   * then 503 server_busy. Below KEYWARD_REQUEST_TIMEOUT_MS so the caller hears why.
   */
  KEYWARD_ARGON2_ACCOUNT_WAIT_MS: Type.Integer({ minimum: 1, maximum: 600_000, default: 5000 }),
  /** Failed key checks allowed per client address per window, across the fleet; then 429. */
  KEYWARD_FAILED_AUTH_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
  /** The window of KEYWARD_FAILED_AUTH_LIMIT, in seconds. */
  KEYWARD_FAILED_AUTH_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  /**
   * IPv6 clients are counted by the failure limits per network of this many
   * leading bits (one client often holds a whole /64); IPv4 per address.
   */
  KEYWARD_LIMITER_IPV6_PREFIX: Type.Integer({ minimum: 16, maximum: 128, default: 64 }),
  /** Failed sign-ins allowed per email per window, across the fleet (whether or not the email exists); then 429. */
  KEYWARD_LOGIN_FAILURE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10 }),
  /** Failed sign-ins allowed per client address per window, across the fleet; then 429. */
  KEYWARD_LOGIN_ADDRESS_FAILURE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50 }),
  /** The window of the two sign-in limits, in seconds. */
  KEYWARD_LOGIN_FAILURE_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
  /**
   * Trust X-Forwarded-For from this many proxy hops (0: use the socket
   * address). Set it to the number of load balancers in front of keyward.
   */
  KEYWARD_TRUSTED_PROXY_HOPS: Type.Integer({ minimum: 0, maximum: 10, default: 0 }),
  /** Longest a dashboard (management) request may take before answering 503, in milliseconds. */
  KEYWARD_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /** Count requests per key (last used, time series, callers). */
  KEYWARD_USAGE_TRACKING: Type.Boolean({ default: true }),
  /** How often each instance adds its usage counts to Postgres, in milliseconds: the most a crash can lose. */
  KEYWARD_USAGE_FLUSH_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  /** How long minute buckets of usage are kept, in hours (at least 24: "requests in the last 24 h" sums them). */
  KEYWARD_USAGE_MINUTE_RETENTION_HOURS: Type.Integer({ minimum: 24, maximum: 720, default: 48 }),
  /** How long hour buckets of usage and the callers seen are kept, in days. */
  KEYWARD_USAGE_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
  /** How long audit events are kept, in days. */
  KEYWARD_AUDIT_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 365 }),
  /** How often each instance prunes old data and ends keys whose scheduled expiry passed, in seconds. */
  KEYWARD_MAINTENANCE_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  /** Longest grace period a rotation may give the old key, in seconds (default 30 days). */
  KEYWARD_MAX_ROTATION_GRACE_SECONDS: Type.Integer({ minimum: 0, maximum: 31_536_000, default: 2_592_000 }),

  /**
   * `production` makes the session cookie Secure (and `__Host-` prefixed) whatever the database, unless
   * KEYWARD_COOKIE_SECURE says otherwise.
   */
  NODE_ENV: Type.Optional(Type.String()),
  // HTTP connections (issue #15): bounds on slow and idle clients, so none holds a connection for long.
  /**
   * Longest a client may take to send a request's headers, in milliseconds; then 408 and the connection
   * closes. Node's default (60 s, checked every 30 s) let a half-sent header hold a connection ~80 s.
   */
  KEYWARD_HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 10_000 }),
  /**
   * Longest a client may take to send a whole request (headers and body), in milliseconds; then 408. At
   * least KEYWARD_HTTP_HEADERS_TIMEOUT_MS. keyward's bodies are under 16 KiB: any client sends one in far less.
   */
  KEYWARD_HTTP_RECEIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 15_000 }),
  /**
   * How long an idle keep-alive connection stays open, in milliseconds. Longer than the usual load balancer
   * idle timeout (60 s), so the balancer closes first and never sends a request on a connection being closed.
   */
  KEYWARD_HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 72_000 }),
  /**
   * Port of a separate listener (on HOST) that serves only `GET /metrics`, for Prometheus; keep it off the
   * load balancer. Unset: no such listener. `0` picks a free port (the log says which).
   */
  KEYWARD_METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /**
   * Bearer token Prometheus sends (`Authorization: Bearer …`) for `/metrics`. Set: required on the metrics
   * listener, and `/metrics` is also served on the API port to holders of it. Unset: `/metrics` is not on
   * the API port at all (it tells anyone the traffic, check outcomes and fleet state).
   */
  KEYWARD_METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  /**
   * Sign-up attempts allowed per client address per window, across the fleet, successful or not; then 429.
   * Each costs an argon2 hash and tells whether an email is registered, so neither may be unlimited.
   */
  KEYWARD_SIGNUP_ADDRESS_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20 }),
  /**
   * Sign-up attempts allowed per email per window, across the fleet, from any address, taken or not; then
   * 429. Bounds how often one email can be probed, from however many addresses.
   */
  KEYWARD_SIGNUP_EMAIL_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 5 }),
  /** The window of KEYWARD_SIGNUP_ADDRESS_LIMIT and KEYWARD_SIGNUP_EMAIL_LIMIT, in seconds. */
  KEYWARD_SIGNUP_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 3600 }),
  // Rate limits and quotas per account (issue #26): the deployment's defaults, overridden per account with
  // `keyward set-plan`. Counted over all of an account's keys together, exactly across the fleet.
  /** Most requests an account's keys may make together per KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS. Unset: no limit. */
  KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
  /** The window of KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS, in seconds. */
  KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  /** Most requests an account's keys may make together per calendar month (UTC). Unset: no quota. */
  KEYWARD_ACCOUNT_MONTHLY_QUOTA: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 })),
  /**
   * Longest an instance waits for Redis to grant rate-limit budget, in milliseconds; then it admits its own
   * share of the limit (the limit divided by the fleet's size) and reports itself degraded.
   */
  KEYWARD_RATE_LIMIT_TIMEOUT_MS: Type.Integer({ minimum: 5, maximum: 10_000, default: 250 }),
  /** Most open HTTP connections per instance; connections beyond it are closed at once. */
  KEYWARD_HTTP_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
  // GitHub secret scanning (issue #14): GitHub reports keys of this deployment found in public.
  /**
   * `on` serves `POST /v1/secret-scanning/github`, the endpoint GitHub's secret scanning partner programme
   * posts leaked keys to (see the README). Unset: on when KEYWARD_GITHUB_KEYS_URL is set, else off (the route
   * answers 404 like any unknown route).
   */
  KEYWARD_GITHUB_SECRET_SCANNING: Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('off')])),
  /**
   * Where GitHub publishes the public keys that sign its secret scanning reports. Setting it turns the
   * endpoint on. Default (when KEYWARD_GITHUB_SECRET_SCANNING=on): GitHub's own document.
   */
  KEYWARD_GITHUB_KEYS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /**
   * Token sent as `Authorization: Bearer …` when fetching GitHub's public keys: that endpoint is rate-limited
   * per address, less so per token (a token with no scopes is enough). Unset: no Authorization header.
   */
  KEYWARD_GITHUB_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  /** How long GitHub's public keys are used before they are fetched again, in seconds. */
  KEYWARD_GITHUB_KEYS_CACHE_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 3600 }),
  /**
   * Least time between two fetches of GitHub's public keys caused by a report signed with an unknown key
   * identifier (or retrying after a failed fetch), in seconds: a stream of bogus identifiers costs GitHub at
   * most one request per interval.
   */
  KEYWARD_GITHUB_KEYS_REFETCH_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  /** Longest a fetch of GitHub's public keys may take, in milliseconds (GitHub waits 30 s for an answer). */
  KEYWARD_GITHUB_KEYS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 20_000, default: 5000 }),
  // Webhooks (issue #14): every bound of the delivery worker. Tests shrink them.
  /**
   * Admit webhook URLs that resolve to loopback, private, link-local, CGNAT, multicast or unspecified
   * addresses, and `http` URLs. Off by default (SSRF: a webhook must never reach the fleet's own network);
   * turn it on for receivers inside your network, and in tests.
   */
  KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: Type.Boolean({ default: false }),
  /** Most webhook endpoints an account may register. */
  KEYWARD_WEBHOOK_MAX_ENDPOINTS: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  /**
   * Longest one delivery attempt may take (connect, send, and the receiver's answer), in milliseconds; then
   * it counts as failed and is retried.
   */
  KEYWARD_WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  /** Most deliveries each instance sends at once (at most one per endpoint, so a slow receiver holds one). */
  KEYWARD_WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
  /** How often each instance looks for due deliveries, in milliseconds (it also looks right after a change). */
  KEYWARD_WEBHOOK_POLL_INTERVAL_MS: Type.Integer({ minimum: 20, maximum: 60_000, default: 1000 }),
  /**
   * Delay before the first retry of a failed delivery, in milliseconds; each further retry waits twice as
   * long (up to KEYWARD_WEBHOOK_BACKOFF_MAX_MS), less a random part of up to half (jitter).
   */
  KEYWARD_WEBHOOK_BACKOFF_BASE_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 5000 }),
  /** Longest wait between two attempts of a delivery, in milliseconds. */
  KEYWARD_WEBHOOK_BACKOFF_MAX_MS: Type.Integer({ minimum: 10, maximum: 86_400_000, default: 3_600_000 }),
  /** How long a delivery is retried after its event, in seconds (default a day); then it is marked failed. */
  KEYWARD_WEBHOOK_MAX_AGE_SECONDS: Type.Integer({ minimum: 1, maximum: 604_800, default: 86_400 }),
  /** How long deliveries (and their attempts) stay visible after they ended, in days. */
  KEYWARD_WEBHOOK_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
});

export type Env = Static<typeof EnvSchema>;

/** GitHub's published secret scanning public keys. */
export const GITHUB_KEYS_URL = 'https://api.github.com/meta/public_keys/secret_scanning';

/** Where the GitHub secret scanning endpoint fetches its keys from, or undefined when the endpoint is off. */
export function githubKeysUrl(env: Env): string | undefined {
  if (env.KEYWARD_GITHUB_SECRET_SCANNING === 'off') return undefined;
  if (env.KEYWARD_GITHUB_KEYS_URL) return env.KEYWARD_GITHUB_KEYS_URL;
  return env.KEYWARD_GITHUB_SECRET_SCANNING === 'on' ? GITHUB_KEYS_URL : undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and validates configuration. Empty strings count as unset so that
 * `FOO=` in a compose file does not turn into an invalid value.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(EnvSchema.properties)) {
    const value = source[name];
    if (value !== undefined && value !== '') raw[name] = value;
  }
  const candidate = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw));
  const problems = [...Value.Errors(EnvSchema, candidate)];
  if (problems.length > 0) {
    const lines = problems.map((problem) => {
      const name = problem.path.replace(/^\//, '');
      const secret =
        ['KEYWARD_SECRET', 'KEYWARD_METRICS_TOKEN', 'KEYWARD_GITHUB_TOKEN'].includes(name) || name.endsWith('_URL');
      const shown = secret ? '(hidden)' : JSON.stringify(raw[name]);
      return `  ${name}=${shown}: ${problem.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return candidate as Env;
}
