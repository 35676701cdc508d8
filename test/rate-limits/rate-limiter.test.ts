import t from 'tap';
import { RateLimiter } from '../../packages/member/src/rate-limiter.js';
import { RedisBudgets } from '../../src/rate-limits/budget-sources.js';
import type { Database } from '../../src/db/database.js';
import { freePort } from '../support/redis-server.js';
import { createRedisPrefix } from '../support/services.js';

/*
 * The limiter over Redis, one process standing for an instance: how often it asks Redis, what it admits,
 * and its share when Redis cannot be reached. No quota here, so no database is read.
 */
const NO_DATABASE = null as unknown as Database;
const ACCOUNT = '00000000-0000-4000-8000-000000000001';

async function admitMany(
  limiter: RateLimiter,
  keyId: string,
  limits: Parameters<RateLimiter['admit']>[2],
  count: number,
) {
  let admitted = 0;
  for (let i = 0; i < count; i++) {
    const answer = limiter.admit(keyId, ACCOUNT, limits, Date.now());
    if ((answer instanceof Promise ? await answer : answer) === null) admitted++;
  }
  return admitted;
}

t.test('a key far from its limit asks Redis once per batch, not once per request', async (t) => {
  const { redisUrl, prefix } = await createRedisPrefix(t);
  const budgets = new RedisBudgets(redisUrl, prefix, 2000, NO_DATABASE);
  t.teardown(() => budgets.close());
  const limiter = new RateLimiter({ source: budgets, timeoutMs: 2000 });
  const limits = { key: { requests: 1_000_000_000, windowSeconds: 3600 }, account: null, monthlyQuota: null };
  t.equal(await admitMany(limiter, 'AAAAAAAAAAAAAAAA', limits, 20_000), 20_000);
  t.ok(limiter.reservations * 8 <= 20_000, `${limiter.reservations} reservations for 20,000 requests`);
  t.notOk(limiter.degraded);
});

t.test('two limiters on one count admit the limit between them, exactly', async (t) => {
  const { redisUrl, prefix } = await createRedisPrefix(t);
  const budgets = [
    new RedisBudgets(redisUrl, prefix, 2000, NO_DATABASE),
    new RedisBudgets(redisUrl, prefix, 2000, NO_DATABASE),
  ];
  t.teardown(() => budgets.forEach((source) => source.close()));
  const [one, two] = budgets.map((source) => new RateLimiter({ source, timeoutMs: 2000 }));
  const limits = { key: null, account: { requests: 500, windowSeconds: 3600 }, monthlyQuota: null };
  const admitted = await Promise.all([
    admitMany(one!, 'AAAAAAAAAAAAAAAB', limits, 400),
    admitMany(two!, 'AAAAAAAAAAAAAAAC', limits, 400),
  ]);
  t.equal(admitted[0]! + admitted[1]!, 500, `${admitted.join(' + ')} admitted of 800 asked, with a limit of 500`);
});

t.test('with Redis unreachable: its share of the limit, refused beyond it, and degraded', async (t) => {
  const closed = await freePort(); // nothing listens there
  const budgets = new RedisBudgets(`redis://127.0.0.1:${closed}`, 'gone:', 200, NO_DATABASE);
  t.teardown(() => budgets.close());
  const fallbacks: unknown[] = [];
  const limiter = new RateLimiter({ source: budgets, timeoutMs: 200, onFallback: (error) => fallbacks.push(error) });
  const limits = { key: { requests: 7, windowSeconds: 3600 }, account: null, monthlyQuota: null };
  t.equal(await admitMany(limiter, 'AAAAAAAAAAAAAAAD', limits, 12), 7, 'a fleet of one: the whole limit, not more');
  t.ok(limiter.degraded);
  t.ok(fallbacks.length >= 1);
  const refusal = limiter.admit('AAAAAAAAAAAAAAAD', ACCOUNT, limits, Date.now());
  const answer = refusal instanceof Promise ? await refusal : refusal;
  t.equal(answer?.statusCode, 429);
  t.equal(answer?.code, 'KW_RATE_LIMITED');
});
