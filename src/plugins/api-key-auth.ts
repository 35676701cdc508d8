import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import {
  ApiKeyAuthenticator,
  isRefusal,
  type ApiKeyIdentity,
  type Authentication,
  type KeyCheckCounter,
} from '../key-check/api-key-authenticator.js';
import { openPostgres } from '../db/database.js';
import { loadEnv } from '../env.js';
import { openKeyChecking, type KeyChecking } from '../key-check/key-checking.js';
import { SecretHasher } from '../keys/secret-hashing.js';

export type { ApiKeyIdentity };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs a valid key in `x-api-key`; its handler reads `request.apiKey`. */
    apiKey?: boolean;
  }
  interface FastifyRequest {
    /** The caller's account and key, on routes with `config: { apiKey: true }`. */
    apiKey: ApiKeyIdentity;
  }
}

/** For a service of the fleet: where keyward's Postgres and Redis are, and its server secret. */
export interface ApiKeyAuthConnection {
  databaseUrl: string;
  /** Omit only for a single-instance deployment. */
  redisUrl?: string;
  /** keyward's KEYWARD_SECRET (the same on every instance). */
  secret: string;
  /** keyward's KEYWARD_KEY_PREFIX, default `kw`. */
  keyPrefix?: string;
  /** keyward's REDIS_KEY_PREFIX, default `keyward:`. */
  redisKeyPrefix?: string;
  /** Any other keyward variable, e.g. `{ KEYWARD_CACHE_MAX_KEYS: '50000' }` (see the README). */
  settings?: Record<string, string>;
}

/** Either an open KeyChecking (keyward itself) or the settings to open one (any other service). */
export type ApiKeyAuthOptions = { keyChecking: KeyChecking; metrics?: KeyCheckCounter } | ApiKeyAuthConnection;

async function openFromConnection(app: FastifyInstance, connection: ApiKeyAuthConnection): Promise<KeyChecking> {
  const env = loadEnv({
    ...connection.settings,
    DATABASE_URL: connection.databaseUrl,
    REDIS_URL: connection.redisUrl,
    KEYWARD_SECRET: connection.secret,
    KEYWARD_KEY_PREFIX: connection.keyPrefix,
    REDIS_KEY_PREFIX: connection.redisKeyPrefix,
  });
  const database = openPostgres({
    url: connection.databaseUrl,
    poolSize: env.DATABASE_POOL_SIZE,
    statementTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    connectTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
  });
  const hasher = new SecretHasher({
    memoryKib: env.KEYWARD_ARGON2_MEMORY_KIB,
    timeCost: env.KEYWARD_ARGON2_TIME_COST,
    parallelism: env.KEYWARD_ARGON2_PARALLELISM,
  });
  const keyChecking = await openKeyChecking(env, {
    db: database.db,
    hasher,
    serverSecret: connection.secret,
    log: app.log,
  });
  app.addHook('onClose', async () => {
    await keyChecking.close();
    await database.close();
  });
  return keyChecking;
}

/**
 * Routes opt in with `config: { apiKey: true }`; only those pay for the
 * check. The hook is callback-style so that a cache hit completes
 * synchronously, with no promise on the hot path.
 */
export const apiKeyAuth = fp<ApiKeyAuthOptions>(
  async (app: FastifyInstance, options) => {
    const keyChecking = 'keyChecking' in options ? options.keyChecking : await openFromConnection(app, options);
    const metrics = 'metrics' in options ? options.metrics : undefined;
    const authenticator = new ApiKeyAuthenticator(
      keyChecking.checker,
      keyChecking.failedChecks,
      keyChecking.usage,
      metrics,
    );
    app.decorateRequest('apiKey', null as unknown as ApiKeyIdentity);

    function finish(
      request: FastifyRequest,
      reply: FastifyReply,
      result: Authentication,
      done: HookHandlerDoneFunction,
    ) {
      if (!isRefusal(result)) {
        request.apiKey = result;
        return done();
      }
      if (result.retryAfterSeconds !== undefined) void reply.header('retry-after', result.retryAfterSeconds);
      done(result);
    }

    function requireApiKey(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      const result = authenticator.authenticate(
        request.headers['x-api-key'],
        request.ip,
        request.headers['user-agent'],
      );
      if (result instanceof Promise) result.then((settled) => finish(request, reply, settled, done));
      else finish(request, reply, result, done);
    }

    app.addHook('onRoute', (route) => {
      if (route.config?.apiKey) route.onRequest = [requireApiKey, ...[route.onRequest ?? []].flat()];
    });
  },
  { name: 'keyward-api-key-auth' },
);
