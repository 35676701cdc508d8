import type { SecretHasher } from '../keys/secret-hashing.js';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { openCore } from './core.js';
import { assertFleetSecret } from '../fleet/secret-fingerprint.js';
import { MemberCredentials } from '../members/member-credentials.js';
import { migratePostgresDatabase, type DatabaseHandle } from '../db/database.js';
import { EmbeddedDataLock } from '../db/embedded-lock.js';
import { ConfigError, type Env } from '../config/env.js';
import { AccountService } from '../accounts/accounts.js';
import type { KeyChecking } from '../key-check/open-key-checking.js';
import { Metrics } from '../metrics/metrics.js';
import { loadScopeCatalogue } from '../keys/restriction-rules.js';
import { AuditLog } from '../audit/audit-log.js';
import { KeyService } from '../keys/key-lifecycle.js';
import { Maintenance } from './maintenance.js';
import { UsageReport } from '../usage/usage-report.js';
import { WebhookService } from '../webhooks/webhook-endpoints.js';
import { WebhookDeliveryWorker } from '../webhooks/delivery-worker.js';
import { SigningSecretBox } from '../webhooks/signing.js';
import { defaultAccountLimits } from '../rate-limits/account-plans.js';
import { LimitsView } from '../rate-limits/limits-view.js';

/** Everything the HTTP layer needs, opened once per process. */
export interface Runtime {
  env: Env;
  /** `single-instance`: no Redis; cache and events stay in this process. */
  fleetMode: 'redis' | 'single-instance';
  cookieSecure: boolean;
  /** Keys the digests kept in the hot tiers. */
  serverSecret: string;
  database: DatabaseHandle;
  /** The process's one argon2 pool (key checks first), shared by key checking, sign-up, sign-in and keys. */
  hasher: SecretHasher;
  accounts: AccountService;
  keys: KeyService;
  /** Each account's limits and what the fleet used of them (GET /v1/limits). */
  limits: LimitsView;
  keyChecking: KeyChecking;
  /** The services allowed to check keys through this fleet. */
  members: MemberCredentials;
  metrics: Metrics;
  usageReport: UsageReport;
  auditLog: AuditLog;
  maintenance: Maintenance;
  webhooks: WebhookService;
  /** Sends the webhook outbox; running unless `deliverWebhooks: false`. */
  webhookWorker: WebhookDeliveryWorker;
  /** Set when shutdown began: readiness answers 503 so load balancers drain this instance. */
  shuttingDown: boolean;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Skip migrations (the caller ran them, e.g. `keyward migrate` or a test helper). */
  skipMigrations?: boolean;
  /** Keep the embedded database in memory instead of KEYWARD_DATA_DIR. */
  inMemory?: boolean;
  /** Start the webhook delivery worker (default true; the CLI leaves deliveries to the servers). */
  deliverWebhooks?: boolean;
  /** Warn that there is no Redis (default true; the CLI warns only when it revokes on Postgres). */
  warnSingleInstance?: boolean;
}

function loadOrCreateEmbeddedSecret(dataDir: string): string {
  const path = join(dataDir, 'secret');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}

/**
 * PGlite, loaded only in embedded mode. It is an optional peer dependency (~27 MB), so a service that
 * installs keyward to check keys, or an image that runs on Postgres, does not carry it.
 */
async function openEmbeddedDatabase(dataDir: string | undefined): Promise<DatabaseHandle> {
  try {
    const { openPglite } = await import('../db/embedded-database.js');
    return await openPglite(dataDir);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String(error).includes('@electric-sql/pglite')) {
      throw new ConfigError(
        'The embedded database needs the optional package @electric-sql/pglite: install it ' +
          '(npm install @electric-sql/pglite), or set DATABASE_URL to run on Postgres.',
      );
    }
    throw error;
  }
}

export async function openRuntime(env: Env, log: FastifyBaseLogger, options: RuntimeOptions = {}): Promise<Runtime> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    // Postgres is opened by the core (the same pool settings as every service that checks keys); the
    // embedded database only here, and PGlite is loaded only then.
    let embedded: DatabaseHandle | undefined;
    let serverSecret: string;
    if (env.DATABASE_URL) {
      if (!env.KEYWARD_SECRET) {
        throw new ConfigError('KEYWARD_SECRET is required when DATABASE_URL is set (at least 32 random characters).');
      }
      serverSecret = env.KEYWARD_SECRET;
      if (!options.skipMigrations) await migratePostgresDatabase(env.DATABASE_URL);
    } else if (options.inMemory) {
      serverSecret = env.KEYWARD_SECRET ?? randomBytes(32).toString('base64url');
      embedded = await openEmbeddedDatabase(undefined);
    } else {
      const lock = EmbeddedDataLock.acquire(env.KEYWARD_DATA_DIR);
      cleanups.push(() => lock.release());
      serverSecret = env.KEYWARD_SECRET ?? loadOrCreateEmbeddedSecret(env.KEYWARD_DATA_DIR);
      const pgdata = join(env.KEYWARD_DATA_DIR, 'pgdata');
      // Said before opening: creating the database is most of a first start (PGlite's initdb, ~10 s measured
      // on a 2-core machine), and a silent terminal looks hung.
      log.info(
        { dataDir: env.KEYWARD_DATA_DIR },
        existsSync(pgdata)
          ? 'embedded database (PGlite): set DATABASE_URL for production'
          : 'creating the embedded database (PGlite), first start only: this takes a few seconds. Set DATABASE_URL for production',
      );
      embedded = await openEmbeddedDatabase(pgdata);
    }
    if (!env.REDIS_URL && options.warnSingleInstance !== false) {
      log.warn('single-instance mode: REDIS_URL is unset, so key cache and revocation events stay in this process');
    }
    const metrics = new Metrics();
    const core = await openCore(env, log, { serverSecret, database: embedded, observer: metrics });
    cleanups.push(() => core.close());
    const { database, hasher, keyChecking } = core;
    await assertFleetSecret(database.db, serverSecret);
    const transactionLimits = {
      statementTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
      idleTimeoutMs: env.KEYWARD_REQUEST_TIMEOUT_MS,
    };
    metrics.watchInstance({
      cache: keyChecking.checker.cache,
      fleet: keyChecking.fleet,
      rateLimits: keyChecking.rateLimits,
      db: database.db,
      pingTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    });
    const keys = new KeyService(database.db, hasher, keyChecking.fleet.announcer, {
      keyPrefix: env.KEYWARD_KEY_PREFIX,
      limits: transactionLimits,
      scopeCatalogue: loadScopeCatalogue(env.KEYWARD_SCOPES_FILE),
      accountDefaults: defaultAccountLimits(env),
      observer: metrics,
    });
    const maintenance = new Maintenance(
      database.db,
      keys,
      {
        usageMinuteHours: env.KEYWARD_USAGE_MINUTE_RETENTION_HOURS,
        usageDays: env.KEYWARD_USAGE_RETENTION_DAYS,
        auditDays: env.KEYWARD_AUDIT_RETENTION_DAYS,
        webhookDays: env.KEYWARD_WEBHOOK_RETENTION_DAYS,
      },
      log,
      env.KEYWARD_MAINTENANCE_INTERVAL_SECONDS * 1000,
    );
    cleanups.push(() => maintenance.close());
    const webhookPolicy = { allowPrivateNetworks: env.KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS };
    const signingSecrets = new SigningSecretBox(serverSecret);
    const webhookWorker = new WebhookDeliveryWorker(
      database.db,
      signingSecrets,
      webhookPolicy,
      {
        timeoutMs: env.KEYWARD_WEBHOOK_TIMEOUT_MS,
        concurrency: env.KEYWARD_WEBHOOK_CONCURRENCY,
        pollIntervalMs: env.KEYWARD_WEBHOOK_POLL_INTERVAL_MS,
        backoffBaseMs: env.KEYWARD_WEBHOOK_BACKOFF_BASE_MS,
        backoffMaxMs: env.KEYWARD_WEBHOOK_BACKOFF_MAX_MS,
        maxAgeSeconds: env.KEYWARD_WEBHOOK_MAX_AGE_SECONDS,
      },
      log,
    );
    // Closed before the database (cleanups run in reverse): attempts in flight are recorded first.
    if (options.deliverWebhooks !== false) webhookWorker.start();
    cleanups.push(() => webhookWorker.close());
    return {
      env,
      fleetMode: env.REDIS_URL ? 'redis' : 'single-instance',
      cookieSecure: env.KEYWARD_COOKIE_SECURE ?? (Boolean(env.DATABASE_URL) || env.NODE_ENV === 'production'),
      serverSecret,
      database,
      hasher,
      accounts: new AccountService(
        database.db,
        hasher,
        env.KEYWARD_SESSION_TTL_SECONDS,
        transactionLimits,
        env.KEYWARD_SIGNUP === 'open',
        {
          byEmail: keyChecking.limiter(
            'signin-email',
            env.KEYWARD_LOGIN_FAILURE_LIMIT,
            env.KEYWARD_LOGIN_FAILURE_WINDOW_SECONDS,
          ),
          byAddress: keyChecking.limiter(
            'signin-address',
            env.KEYWARD_LOGIN_ADDRESS_FAILURE_LIMIT,
            env.KEYWARD_LOGIN_FAILURE_WINDOW_SECONDS,
            'per-client',
          ),
        },
        {
          byAddress: keyChecking.limiter(
            'signup-address',
            env.KEYWARD_SIGNUP_ADDRESS_LIMIT,
            env.KEYWARD_SIGNUP_WINDOW_SECONDS,
            'per-client',
          ),
          byEmail: keyChecking.limiter(
            'signup-email',
            env.KEYWARD_SIGNUP_EMAIL_LIMIT,
            env.KEYWARD_SIGNUP_WINDOW_SECONDS,
          ),
        },
      ),
      keys,
      limits: new LimitsView(database.db, keyChecking.budgets, (accountId) => keys.accountLimits(accountId)),
      keyChecking,
      members: new MemberCredentials(database.db),
      metrics,
      usageReport: new UsageReport(database.db),
      auditLog: new AuditLog(database.db),
      maintenance,
      webhooks: new WebhookService(
        database.db,
        signingSecrets,
        webhookPolicy,
        env.KEYWARD_WEBHOOK_MAX_ENDPOINTS,
        transactionLimits,
      ),
      webhookWorker,
      shuttingDown: false,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
