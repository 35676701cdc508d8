/**
 * A keyward replica's key check in a small Fastify server: the package's
 * `apiKeyAuth` plugin over the tiers keyward itself opens (in-process cache,
 * Redis hot set, Postgres and argon2), as keyward's own routes use it. (A fleet
 * member's cached hit is the same code: cache lookup and digest.) Routes
 * with one and the same handler, so the only difference between them is how
 * (and whether) the caller is authenticated:
 *
 *   /open       no authentication
 *   /secured    keyward (`config: { apiKey: true }`)
 *   /scoped     keyward, the route asking for a scope (`config: { apiKey: { scopes: ['orders:read'] } }`)
 *   /set        in-memory constant-time key set, as @fastify/bearer-auth does (the practical limit)
 *   /redis-get  a naive Redis GET per request
 *   /better-auth  better-auth's api-key plugin (a peer; only when bench/peers/ is installed)
 *
 * Bench-only: GET /__bench/stats counts argon2 verifications in this process
 * (SecretHasher.prototype.verify is wrapped before the plugin creates its hasher)
 * and the rate limiter's reservations (Redis scripts) so far.
 *
 * Started by the bench with its configuration in BENCH_SERVER_CONFIG (JSON) and
 * an IPC channel: it reports `{ ready: port }` and exits when the channel closes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction } from 'fastify';
import { Redis } from 'ioredis';
import pino from 'pino';
import { apiKeyAuth } from '../../packages/member/src/fastify.js';
import { createAuthenticator, openCore } from '../../src/app/core.js';
import { loadEnv } from '../../src/config/env.js';
import { SecretHasher } from '../../src/keys/secret-hashing.js';
import { SCOPED_ROUTE_SCOPE } from '../lib/environment.js';

export interface BenchServerConfig {
  databaseUrl: string;
  redisUrl: string;
  redisKeyPrefix: string;
  secret: string;
  /** keyward settings (environment variables) of the key check. */
  settings: Record<string, string>;
  /** Keys the in-memory set accepts. */
  setKeys: string[];
  /** Redis key prefix of the naive check: it GETs `<prefix><sha256 hex of the key>`. */
  naivePrefix: string;
  /** better-auth's own database (bench/peers/better-auth.ts); absent: no /better-auth route. */
  betterAuth?: { databaseUrl: string };
}

export interface BenchServerStats {
  argon2Verifications: number;
  /** Rate-limit budget reservations (one Redis script each) so far. */
  rateLimitReservations: number;
  heapUsedBytes: number;
  rssBytes: number;
}

const config = JSON.parse(process.env.BENCH_SERVER_CONFIG ?? '') as BenchServerConfig;

let argon2Verifications = 0;
const verify = SecretHasher.prototype.verify;
SecretHasher.prototype.verify = function countedVerify(this: SecretHasher, hash: string, secret: string) {
  argon2Verifications++;
  return verify.call(this, hash, secret);
};

const app = Fastify({ logger: false });
const keywardEnv = loadEnv({
  ...config.settings,
  DATABASE_URL: config.databaseUrl,
  REDIS_URL: config.redisUrl,
  REDIS_KEY_PREFIX: config.redisKeyPrefix,
  KEYWARD_SECRET: config.secret,
});
const core = await openCore(keywardEnv, pino({ level: 'warn' }), { serverSecret: config.secret });
app.addHook('onClose', () => core.close());
const authenticator = createAuthenticator(core.keyChecking);
await app.register(apiKeyAuth, { checker: { check: (...request) => authenticator.authenticate(...request) } });

class Unauthorized extends Error {
  readonly statusCode = 401;
}

// The same function serves every route.
const handler = async () => ({ ok: true });

// Reference 1: what @fastify/bearer-auth does. Every configured key is compared
// in constant time, with no early exit, so the time does not depend on which key matched.
const setKeys = config.setKeys.map((key) => Buffer.from(key));
function inMemorySet(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const presented = request.headers['x-api-key'];
  if (typeof presented !== 'string') return done(new Unauthorized('missing key'));
  const candidate = Buffer.from(presented);
  let matched = false;
  for (const key of setKeys) {
    if (key.length === candidate.length && timingSafeEqual(key, candidate)) matched = true;
  }
  done(matched ? undefined : new Unauthorized('invalid key'));
}

// Reference 2: a naive check, one Redis GET per request (ioredis defaults).
const redis = new Redis(config.redisUrl);
async function redisGet(request: FastifyRequest): Promise<void> {
  const presented = request.headers['x-api-key'];
  if (typeof presented !== 'string') throw new Unauthorized('missing key');
  const found = await redis.get(config.naivePrefix + createHash('sha256').update(presented).digest('hex'));
  if (found === null) throw new Unauthorized('invalid key');
}

app.get('/open', handler);
app.get('/secured', { config: { apiKey: true } }, handler);
app.get('/scoped', { config: { apiKey: { scopes: [SCOPED_ROUTE_SCOPE] } } }, handler);
app.get('/set', { onRequest: inMemorySet }, handler);
app.get('/redis-get', { onRequest: redisGet }, handler);
if (config.betterAuth) {
  const { betterAuthVerifier } = await import('../peers/better-auth.js');
  const isValid = await betterAuthVerifier(config.betterAuth.databaseUrl, config.secret);
  app.get(
    '/better-auth',
    {
      onRequest: async (request) => {
        const presented = request.headers['x-api-key'];
        if (typeof presented !== 'string' || !(await isValid(presented))) throw new Unauthorized('invalid key');
      },
    },
    handler,
  );
}
app.get('/__bench/stats', async (): Promise<BenchServerStats> => ({
  argon2Verifications,
  rateLimitReservations: core.keyChecking.rateLimits.reservations,
  heapUsedBytes: process.memoryUsage().heapUsed,
  rssBytes: process.memoryUsage().rss,
}));

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(1), 5000).unref();
  await app.close();
  redis.disconnect();
  clearTimeout(force);
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
process.once('disconnect', () => void shutdown());

await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.send?.({ ready: typeof address === 'object' && address ? address.port : 0 });
