import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { KeywardApp } from '../../src/app.js';
import { generateKey } from '../../src/keys/key-format.js';
import { buildTestApp, createKey, signUp, testServices } from '../helper.js';

/*
 * Failed key checks are counted per client address; past the limit the
 * address gets 429 for the rest of the window, whatever key it sends. With
 * Redis the count is the fleet's. Addresses come from inject's
 * remoteAddress (no trusted proxy hops, so it is request.ip).
 */

const LIMIT = 6;
// Windows are aligned to multiples of their length: a day-long one practically never rolls over mid-test.
const WINDOW_SECONDS = 86_400;
const LIMIT_ENV = {
  KEYWARD_FAILED_AUTH_LIMIT: String(LIMIT),
  KEYWARD_FAILED_AUTH_WINDOW_SECONDS: String(WINDOW_SECONDS),
};

const ATTACKER = '198.51.100.7';
const BYSTANDER = '203.0.113.9';

function me(app: KeywardApp, apiKey: string, remoteAddress: string) {
  return app.inject({ method: 'GET', url: '/v1/me', headers: { 'x-api-key': apiKey }, remoteAddress });
}

/** A bad key of each kind, round-robin: all count as failures. */
function badKey(n: number, realKeyId: string): string {
  const kinds = [
    () => 'not-a-key',
    () => generateKey('kw').key, // unknown id
    () => generateKey('kw', realKeyId).key, // real id, wrong secret
  ];
  return kinds[n % kinds.length]!();
}

/**
 * Failures are counted in Redis after the response is sent, so the block
 * lands a moment later: poll with a valid key (a success, which must not
 * count) until the address is refused.
 */
async function blockedSoon(app: KeywardApp, validKey: string, address: string): Promise<LightMyRequestResponse> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const response = await me(app, validKey, address);
    if (response.statusCode !== 200 || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

function assertRateLimited(t: Test, response: LightMyRequestResponse, label: string) {
  t.equal(response.statusCode, 429, label);
  t.equal(response.json().error.code, 'rate_limited', label);
  t.equal(response.json().error.requestId, response.headers['x-request-id'], label);
  const retryAfter = Number(response.headers['retry-after']);
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW_SECONDS, `${label}: Retry-After`);
}

/** Sum of the fleet-wide failure counters under `prefix`, read straight from Redis. */
async function redisFailureCount(prefix: string): Promise<number> {
  const { redisUrl } = await testServices();
  const redis = new Redis(redisUrl);
  try {
    const keys = await redis.keys(`${prefix}failed:*`);
    const values = keys.length > 0 ? await redis.mget(...keys) : [];
    return values.reduce((sum, value) => sum + Number(value ?? 0), 0);
  } finally {
    redis.disconnect();
  }
}

for (const mode of ['redis', 'single-instance'] as const) {
  t.test(`past the limit an address gets 429 with Retry-After; others are unaffected (${mode})`, async (t) => {
    const { app } = await buildTestApp(t, { env: { ...LIMIT_ENV, ...(mode === 'redis' ? {} : { REDIS_URL: '' }) } });
    const user = await signUp(app);
    const { apiKey, keyId } = await createKey(app, user.cookie);

    for (let n = 0; n < LIMIT; n++) {
      const response = await me(app, badKey(n, keyId), ATTACKER);
      t.equal(response.statusCode, 401, `failure ${n + 1} of ${LIMIT} is still answered`);
    }
    assertRateLimited(t, await blockedSoon(app, apiKey, ATTACKER), 'even a valid key from the blocked address');
    assertRateLimited(t, await me(app, badKey(0, keyId), ATTACKER), 'a bad key from the blocked address');
    assertRateLimited(
      t,
      await app.inject({ method: 'GET', url: '/v1/verify', headers: { 'x-api-key': apiKey }, remoteAddress: ATTACKER }),
      'forward auth from the blocked address',
    );

    const bystander = await me(app, apiKey, BYSTANDER);
    t.equal(bystander.statusCode, 200, 'the same valid key from another address');
    t.same(bystander.json(), { accountId: user.accountId, keyId });
    t.equal((await me(app, 'not-a-key', BYSTANDER)).statusCode, 401, 'another address still gets 401, not 429');
  });
}

t.test('the count is fleet-wide: two instances that each saw part of the failures block together', async (t) => {
  const first = await buildTestApp(t, { env: LIMIT_ENV });
  // Same Postgres, Redis prefix and server secret: one fleet.
  const second = await buildTestApp(t, {
    env: {
      ...LIMIT_ENV,
      DATABASE_URL: first.databaseUrl!,
      REDIS_KEY_PREFIX: first.redisPrefix!,
      KEYWARD_SECRET: first.runtime.serverSecret,
    },
  });
  const user = await signUp(first.app);
  const { apiKey, keyId } = await createKey(first.app, user.cookie);
  t.equal((await me(second.app, apiKey, BYSTANDER)).statusCode, 200, 'one fleet: the second instance knows the key');

  // Alternate failures: LIMIT - 1 in all, neither instance alone anywhere near the limit.
  const instances = [first.app, second.app];
  for (let n = 0; n < LIMIT - 1; n++) {
    t.equal((await me(instances[n % 2]!, badKey(n, keyId), ATTACKER)).statusCode, 401);
  }
  t.ok(
    await waitFor(async () => (await redisFailureCount(first.redisPrefix!)) === LIMIT - 1),
    'each failure counted once, fleet-wide',
  );
  t.equal((await me(first.app, apiKey, ATTACKER)).statusCode, 200, 'not blocked below the limit');
  t.equal((await me(second.app, apiKey, ATTACKER)).statusCode, 200);

  // The LIMIT-th failure, on the second instance, which itself saw only half of them.
  t.equal((await me(second.app, badKey(LIMIT, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(t, await blockedSoon(second.app, apiKey, ATTACKER), 'blocked on the instance that saw 3 of 6');

  // A block is kept by the instance whose increment crossed the limit; the first instance may learn of the
  // fleet's count only with the next failure it sees (its 4th, the fleet's 7th), which already blocks it.
  const next = await me(first.app, badKey(LIMIT + 1, keyId), ATTACKER);
  t.ok([401, 429].includes(next.statusCode), 'refused either way');
  assertRateLimited(t, await blockedSoon(first.app, apiKey, ATTACKER), 'blocked on the instance that saw 4 of 7');

  for (const app of instances) t.equal((await me(app, apiKey, BYSTANDER)).statusCode, 200, 'bystander unaffected');
});

t.test('successes are not counted', async (t) => {
  const { app, redisPrefix } = await buildTestApp(t, { env: LIMIT_ENV });
  const user = await signUp(app);
  const { apiKey, keyId } = await createKey(app, user.cookie);

  // Far more successes than the limit, cold and hot, on /v1/me and /v1/verify.
  for (let n = 0; n < 3 * LIMIT; n++) {
    t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200);
    const verify = await app.inject({ url: '/v1/verify', headers: { 'x-api-key': apiKey }, remoteAddress: ATTACKER });
    t.equal(verify.statusCode, 204);
  }
  for (let n = 0; n < LIMIT - 1; n++) t.equal((await me(app, badKey(n, keyId), ATTACKER)).statusCode, 401);

  t.ok(
    await waitFor(async () => (await redisFailureCount(redisPrefix!)) === LIMIT - 1),
    'the failures, and only they, reached the count',
  );
  await new Promise((resolve) => setTimeout(resolve, 100)); // any stray increment would land by now
  t.equal(await redisFailureCount(redisPrefix!), LIMIT - 1);
  t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'one failure short of the limit: still served');

  t.equal((await me(app, badKey(0, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(t, await blockedSoon(app, apiKey, ATTACKER), 'the LIMIT-th failure blocks');
});

t.test('a burst of concurrent failures is counted exactly, each one once', async (t) => {
  // Failures arriving in the same turn are added to Redis together (one INCRBY per address): none may be lost
  // or counted twice. A limit above the burst keeps every one of them a 401.
  const burst = 40;
  const { app, redisPrefix } = await buildTestApp(t, {
    env: { ...LIMIT_ENV, KEYWARD_FAILED_AUTH_LIMIT: String(burst + 1) },
  });
  const user = await signUp(app);
  const { apiKey, keyId } = await createKey(app, user.cookie);

  const answers = await Promise.all(Array.from({ length: burst }, (_, n) => me(app, badKey(n, keyId), ATTACKER)));
  t.same(
    answers.map((response) => response.statusCode),
    Array.from({ length: burst }, () => 401),
  );
  t.ok(
    await waitFor(async () => (await redisFailureCount(redisPrefix!)) === burst),
    `the fleet's count reached ${burst}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 100)); // any stray increment would land by now
  t.equal(await redisFailureCount(redisPrefix!), burst, 'and not more');
  t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'one short of the limit: still served');
  t.equal((await me(app, badKey(0, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(t, await blockedSoon(app, apiKey, ATTACKER), 'the limit-th failure blocks');
});
