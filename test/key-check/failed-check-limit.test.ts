import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { KeywardApp } from '../../src/app/app.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, createKey, revokeKey, rotateKey, signUp } from '../support/app.js';
import { testServices } from '../support/services.js';
import { eventually, sleep } from '../support/wait.js';

/*
 * The failed-check limiter counts guesses (unknown key ids, wrong secrets)
 * per client; past the limit the client gets 429, until its count over the
 * last window falls below the limit, for anything this instance cannot prove
 * without a cold lookup, while keys whose secret the instance already knows
 * keep working. Malformed keys and revoked or expired keys sent with their
 * right secret are not guesses and never count. With Redis the count is the
 * fleet's. Addresses come from inject's remoteAddress (no trusted proxy hops,
 * so it is request.ip) or from X-Forwarded-For behind one trusted hop.
 */

const LIMIT = 6;
// A day-long window: the count hardly decays during a test, even across a window's edge (the previous
// window's failures carry over, weighted by how much of the last day they still cover).
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

/** A guess of each kind, round-robin: both count as failures. */
function guess(n: number, realKeyId: string): string {
  return n % 2 === 0 ? generateKey('kw').key /* unknown id */ : generateKey('kw', realKeyId).key; /* wrong secret */
}

/**
 * Failures are counted in Redis after the response is sent, so the block
 * lands a moment later: poll with a guess (which counts too) until it is refused.
 */
async function blockedSoon(
  app: KeywardApp,
  realKeyId: string,
  send: (apiKey: string) => Promise<LightMyRequestResponse>,
): Promise<LightMyRequestResponse> {
  let n = 0;
  let response = await send(guess(n, realKeyId));
  await eventually(async () => {
    response = await send(guess(++n, realKeyId));
    return response.statusCode !== 401;
  });
  return response;
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
  t.test(`past the limit guesses get 429 with Retry-After; known valid keys are still served (${mode})`, async (t) => {
    const { app } = await buildTestApp(t, { env: { ...LIMIT_ENV, ...(mode === 'redis' ? {} : { REDIS_URL: '' }) } });
    const user = await signUp(app);
    const { apiKey, keyId } = await createKey(app, user.cookie);
    const unused = await createKey(app, user.cookie); // valid, but never seen by this instance's cache
    t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'the valid key is in use from the address');

    for (let n = 0; n < LIMIT; n++) {
      const response = await me(app, guess(n, keyId), ATTACKER);
      t.equal(response.statusCode, 401, `guess ${n + 1} of ${LIMIT} is still answered`);
    }
    assertRateLimited(t, await blockedSoon(app, keyId, (key) => me(app, key, ATTACKER)), 'a guess past the limit');
    assertRateLimited(t, await me(app, guess(1, keyId), ATTACKER), 'a wrong secret for the known id');
    assertRateLimited(t, await me(app, unused.apiKey, ATTACKER), 'a key this instance would need a cold check for');

    const served = await me(app, apiKey, ATTACKER);
    t.equal(served.statusCode, 200, 'the valid key from the limited address');
    t.same(served.json(), { accountId: user.accountId, keyId, scopes: null, metadata: null });
    const verify = await app.inject({ url: '/v1/verify', headers: { 'x-api-key': apiKey }, remoteAddress: ATTACKER });
    t.equal(verify.statusCode, 204, 'forward auth of the valid key from the limited address');
    const malformed = await me(app, 'not-a-key', ATTACKER);
    t.equal(malformed.statusCode, 401, 'a malformed key costs nothing: 401, not 429');
    t.equal(malformed.json().error.code, 'invalid_api_key');

    const bystander = await me(app, unused.apiKey, BYSTANDER);
    t.equal(bystander.statusCode, 200, 'the other key from another address');
    t.equal((await me(app, guess(0, keyId), BYSTANDER)).statusCode, 401, 'another address still gets 401, not 429');
  });
}

t.test('revoked and expired keys sent with their right secret, and malformed keys, are not failures', async (t) => {
  const { app, redisPrefix } = await buildTestApp(t, { env: LIMIT_ENV });
  const user = await signUp(app);
  const revoked = await createKey(app, user.cookie);
  const expired = await createKey(app, user.cookie);
  t.equal((await me(app, revoked.apiKey, ATTACKER)).statusCode, 200);
  const revoke = await revokeKey(app, user.cookie, revoked.keyId);
  t.equal(revoke.statusCode, 200);
  const rotate = await rotateKey(app, user.cookie, expired.keyId, { expireOldKeyInSeconds: 0 });
  t.equal(rotate.statusCode, 201);
  const current = rotate.json().apiKey as string;

  const codes = new Set<string>();
  for (let n = 0; n < 3 * LIMIT; n++) {
    for (const apiKey of [revoked.apiKey, expired.apiKey, 'not-a-key', `kw_${'x'.repeat(16)}_${'y'.repeat(39)}`]) {
      const response = await me(app, apiKey, ATTACKER);
      t.equal(response.statusCode, 401);
      codes.add(response.json().error.code);
    }
  }
  t.same([...codes].sort(), ['api_key_expired', 'api_key_revoked', 'invalid_api_key']);
  await sleep(100); // any increment would land by now
  t.equal(await redisFailureCount(redisPrefix!), 0, 'none of them counted');
  t.equal((await me(app, current, ATTACKER)).statusCode, 200, 'the current key, from the same address');
});

t.test('IPv6 clients are counted per /64, and an IPv4-mapped address is its IPv4 address', async (t) => {
  const { app } = await buildTestApp(t, { env: { ...LIMIT_ENV, KEYWARD_TRUSTED_PROXY_HOPS: '1' } });
  const user = await signUp(app);
  const { apiKey, keyId } = await createKey(app, user.cookie);
  const via = (forwardedFor: string) => (key: string) =>
    app.inject({
      url: '/v1/me',
      headers: { 'x-api-key': key, 'x-forwarded-for': forwardedFor },
      remoteAddress: '10.0.0.2', // the trusted proxy
    });
  t.equal((await via('2001:db8:7:8::77')(apiKey)).statusCode, 200, 'the valid key in use from the /64');
  // LIMIT guesses, each from another address of one /64 (and another spelling).
  for (let n = 0; n < LIMIT; n++) {
    const address = n % 2 === 0 ? `2001:db8:7:8:${n.toString(16)}::1` : `2001:0DB8:0007:0008:ffff:${n}:${n}:${n}`;
    t.equal((await via(address)(guess(n, keyId))).statusCode, 401);
  }
  assertRateLimited(t, await blockedSoon(app, keyId, via('2001:db8:7:8:9999::42')), 'yet another address of the /64');
  t.equal((await via('2001:db8:7:8::77')(apiKey)).statusCode, 200, 'and still served');
  t.equal((await via('2001:db8:7:9::1')(guess(0, keyId))).statusCode, 401, 'the next /64 is another client');

  for (let n = 0; n < LIMIT; n++) await via('::ffff:192.0.2.44')(guess(n, keyId));
  assertRateLimited(t, await blockedSoon(app, keyId, via('192.0.2.44')), 'the same client written as IPv4');
});

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
    t.equal((await me(instances[n % 2]!, guess(n, keyId), ATTACKER)).statusCode, 401);
  }
  t.ok(
    await eventually(async () => (await redisFailureCount(first.redisPrefix!)) === LIMIT - 1),
    'each failure counted once, fleet-wide',
  );

  // The LIMIT-th failure, on the second instance, which itself saw only half of them.
  t.equal((await me(second.app, guess(LIMIT, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(
    t,
    await blockedSoon(second.app, keyId, (key) => me(second.app, key, ATTACKER)),
    'blocked on the instance that saw 3 of 6',
  );

  // A block is kept by the instance whose increment crossed the limit; the first instance may learn of the
  // fleet's count only with the next failure it sees (its 4th, the fleet's 7th), which already blocks it.
  const next = await me(first.app, guess(LIMIT + 1, keyId), ATTACKER);
  t.ok([401, 429].includes(next.statusCode), 'refused either way');
  assertRateLimited(
    t,
    await blockedSoon(first.app, keyId, (key) => me(first.app, key, ATTACKER)),
    'blocked on the instance that saw 4 of 7',
  );

  for (const app of instances) {
    t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'the known valid key, from the limited address');
    t.equal((await me(app, apiKey, BYSTANDER)).statusCode, 200, 'bystander unaffected');
  }
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
  for (let n = 0; n < LIMIT - 1; n++) t.equal((await me(app, guess(n, keyId), ATTACKER)).statusCode, 401);

  t.ok(
    await eventually(async () => (await redisFailureCount(redisPrefix!)) === LIMIT - 1),
    'the failures, and only they, reached the count',
  );
  await sleep(100); // any stray increment would land by now
  t.equal(await redisFailureCount(redisPrefix!), LIMIT - 1);
  t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'one failure short of the limit: still served');

  t.equal((await me(app, guess(0, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(t, await blockedSoon(app, keyId, (key) => me(app, key, ATTACKER)), 'the LIMIT-th failure blocks');
  t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'and the valid key is still served');
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

  const answers = await Promise.all(Array.from({ length: burst }, (_, n) => me(app, guess(n, keyId), ATTACKER)));
  t.same(
    answers.map((response) => response.statusCode),
    Array.from({ length: burst }, () => 401),
  );
  t.ok(
    await eventually(async () => (await redisFailureCount(redisPrefix!)) === burst),
    `the fleet's count reached ${burst}`,
  );
  await sleep(100); // any stray increment would land by now
  t.equal(await redisFailureCount(redisPrefix!), burst, 'and not more');
  t.equal((await me(app, apiKey, ATTACKER)).statusCode, 200, 'one short of the limit: still served');
  t.equal((await me(app, guess(0, keyId), ATTACKER)).statusCode, 401);
  assertRateLimited(t, await blockedSoon(app, keyId, (key) => me(app, key, ATTACKER)), 'the limit-th failure blocks');
});
