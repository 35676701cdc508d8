import t from 'tap';
import {
  ApiKeyRevoked,
  ConfigError,
  InvalidApiKey,
  isKeyRefusal,
  openApiKeyChecker,
  type ApiKeyChecker,
  type KeyCheckerOptions,
  type KeyCheckResult,
} from '../../src/index.js';
import { buildTestApp, createKey, signUp } from '../helper.js';
import { sleep } from '../support/wait.js';
import { generateKey } from '../../packages/member/src/key-format.js';

/*
 * The framework-neutral checker: what an Express, Koa, Hono or NestJS service
 * (or a queue worker) checks keys with. Same tiers, fleet registry and
 * revocation guarantee as the Fastify plugin.
 */

const keyward = await buildTestApp(t);
const options = (extra: Partial<KeyCheckerOptions> = {}): KeyCheckerOptions => ({
  databaseUrl: keyward.runtime.env.DATABASE_URL!,
  redisUrl: keyward.runtime.env.REDIS_URL,
  redisKeyPrefix: keyward.runtime.env.REDIS_KEY_PREFIX,
  secret: keyward.runtime.serverSecret,
  ...extra,
});

async function open(extra?: Partial<KeyCheckerOptions>): Promise<ApiKeyChecker> {
  const checker = await openApiKeyChecker(options(extra));
  t.teardown(() => checker.close());
  return checker;
}

t.test(
  'identifies a valid key, refuses a missing one, and refuses a revoked one once DELETE has returned',
  async (t) => {
    const checker = await open();
    const user = await signUp(keyward.app);
    const key = await createKey(keyward.app, user.cookie);

    const missing = await checker.check(undefined, '203.0.113.7');
    t.ok(isKeyRefusal(missing) && missing instanceof InvalidApiKey, 'a missing key: InvalidApiKey');
    t.match(missing, { code: 'KW_INVALID_API_KEY', statusCode: 401 });

    t.same(await checker.check(key.apiKey, '203.0.113.7'), { accountId: user.accountId, keyId: key.keyId });
    const cached = checker.check(key.apiKey, '203.0.113.7');
    t.notOk(cached instanceof Promise, 'a key this process has cached is answered synchronously');
    t.same(cached, { accountId: user.accountId, keyId: key.keyId });

    const revoke = await keyward.app.inject({
      method: 'DELETE',
      url: `/v1/keys/${key.keyId}`,
      headers: { cookie: user.cookie },
    });
    t.equal(revoke.statusCode, 200);
    const revoked = await checker.check(key.apiKey, '203.0.113.7');
    t.ok(revoked instanceof ApiKeyRevoked, 'refused as soon as the revoke call returned');
    t.match(revoked, { code: 'KW_API_KEY_REVOKED', statusCode: 401 });
  },
);

t.test('failed checks are limited per client address, with a Retry-After', async (t) => {
  const checker = await open({ settings: { KEYWARD_FAILED_AUTH_LIMIT: 1, KEYWARD_USAGE_TRACKING: false } });
  const unknownId = generateKey('kw').key; // well-formed, checksum right, no such key: a guess
  // The fleet-wide count reaches Redis at the end of an event-loop turn: keep guessing until it bites.
  let limited: KeyCheckResult | undefined;
  for (let attempt = 0; attempt < 50 && !(limited && isKeyRefusal(limited) && limited.statusCode === 429); attempt++) {
    limited = await checker.check(unknownId, '198.51.100.1');
    await sleep(10);
  }
  t.match(limited, { code: 'KW_RATE_LIMITED', statusCode: 429 });
  t.ok(limited && isKeyRefusal(limited) && limited.retryAfterSeconds! > 0, 'says when to retry');
  t.match(await checker.check(unknownId, '198.51.100.2'), { statusCode: 401 }, 'another address is not limited');
});

t.test('a misspelt setting or a missing secret stops opening', async (t) => {
  // @ts-expect-error KEYWARD_LEASE is not a setting (KEYWARD_LEASE_MS is).
  await t.rejects(openApiKeyChecker(options({ settings: { KEYWARD_LEASE: 1000 } })), ConfigError);
  await t.rejects(openApiKeyChecker(options({ secret: '' })), /secret \(keyward's KEYWARD_SECRET\) is required/);
});
