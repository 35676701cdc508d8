import t from 'tap';
import { isKeyRefusal, MemberError, openApiKeyChecker, type ApiKeyChecker } from '../../packages/member/src/index.js';
import { callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { freePort } from '../support/redis-server.js';
import { withLastCharacterChanged } from '../support/keys.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import { keywardForMembers, OPERATOR } from '../support/members.js';
import { sleep } from '../support/wait.js';

/*
 * A service of the fleet checks keys with @keyward/member: a member credential,
 * keyward's URL and Redis, and nothing of keyward's database or secret.
 */

const keyward = await keywardForMembers(t);
const redisUrl = keyward.runtime.env.REDIS_URL!;
const quiet = { warn() {}, error() {} };

async function open(extra: Partial<Parameters<typeof openApiKeyChecker>[0]> = {}): Promise<ApiKeyChecker> {
  const checker = await openApiKeyChecker({
    keywardUrl: keyward.url,
    credential: keyward.credential,
    redisUrl,
    logger: quiet,
    ...extra,
  });
  t.teardown(() => checker.close());
  return checker;
}

async function freshKey() {
  const user = await signUp(keyward.app);
  return { user, ...(await createKey(keyward.app, user.cookie)) };
}

const member = await open();

t.test('a valid key is checked by keyward once, then answered from memory', async (t) => {
  const { user, apiKey, keyId } = await freshKey();
  t.same(await member.check(apiKey, '203.0.113.7', 'orders-client/1.0'), {
    accountId: user.accountId,
    keyId,
    scopes: null,
    metadata: null,
  });
  const cached = member.check(apiKey, '203.0.113.7', 'orders-client/1.0');
  t.notOk(cached instanceof Promise, 'a cached key is answered synchronously');
  t.same(cached, { accountId: user.accountId, keyId, scopes: null, metadata: null });
});

t.test('a revoked key is refused by the member before the revoke call returns', async (t) => {
  const { user, apiKey, keyId } = await freshKey();
  t.notOk(isKeyRefusal(await member.check(apiKey)));
  const revoke = await revokeKey(keyward.app, user.cookie, keyId);
  t.equal(revoke.statusCode, 200);
  const after = member.check(apiKey);
  t.notOk(after instanceof Promise, 'known at once, from the event');
  t.match(after, { code: 'KW_API_KEY_REVOKED', statusCode: 401 });
});

t.test('wrong keys, and anything JavaScript can hand the check, get a typed answer', async (t) => {
  const { user, apiKey, keyId } = await freshKey();
  for (const header of [undefined, null, 42, ['a', 'b'], {}, '', 'kw_short', withLastCharacterChanged(apiKey)]) {
    t.match(await member.check(header), { code: 'KW_INVALID_API_KEY', statusCode: 401 }, `header ${String(header)}`);
  }
  for (const [address, agent] of [
    [42, ['x']],
    [null, null],
    [['203.0.113.1'], 7],
    [{}, {}],
    ['\u0000bad address', 'a'.repeat(5000)],
    ['2001:db8::1', '\ud83d'],
  ] as const) {
    t.same(await member.check(apiKey, address, agent), {
      accountId: user.accountId,
      keyId,
      scopes: null,
      metadata: null,
    });
  }
  // Every count of those calls reaches keyward: one flush, no row lost to a bad value.
  const counting = await open();
  for (let i = 0; i < 5; i++) await counting.check(apiKey, i % 2 ? 42 : '198.51.100.2', i % 2 ? null : 'ua');
  await counting.close();
  const keys = await keyward.app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  const counted = keys.json().keys.find((key: { id: string }) => key.id === keyId);
  t.ok(counted.requestsLast24h >= 5, `usage counted through keyward (${counted.requestsLast24h})`);
});

t.test('after close every check is refused with 503', async (t) => {
  const { apiKey } = await freshKey();
  const closing = await open();
  t.notOk(isKeyRefusal(await closing.check(apiKey)));
  await closing.close();
  t.match(closing.check(apiKey), { code: 'KW_AUTH_UNAVAILABLE', statusCode: 503 });
});

t.test('a member that cannot keep the guarantee does not open, and says why', async (t) => {
  const rejects = async (options: Partial<Parameters<typeof openApiKeyChecker>[0]>, code: string, why: RegExp) => {
    const error = await openApiKeyChecker({
      keywardUrl: keyward.url,
      credential: keyward.credential,
      redisUrl,
      logger: quiet,
      ...options,
    }).then(
      (checker) => {
        void checker.close();
        return null;
      },
      (error: unknown) => error,
    );
    t.ok(error instanceof MemberError, `${code}: a MemberError`);
    t.match(error, { code, message: why });
  };
  await rejects({ redisUrl: undefined }, 'KW_MEMBER_CONFIG', /redisUrl is required/);
  await rejects({ redisUrl: '' }, 'KW_MEMBER_CONFIG', /redisUrl is required/);
  await rejects({ credential: 'secret' }, 'KW_MEMBER_CONFIG', /member credential/);
  await rejects({ keywardUrl: 'keyward:3000' }, 'KW_MEMBER_CONFIG', /http or https/);
  await rejects(
    { credential: `kwm_${keyward.memberId}_${'A'.repeat(32)}` },
    'KW_MEMBER_CREDENTIAL_REFUSED',
    /refused the member credential/,
  );
  await rejects({ keywardUrl: `http://127.0.0.1:${await freePort()}` }, 'KW_KEYWARD_UNREACHABLE', /unreachable/);
  await rejects({ redisUrl: `redis://127.0.0.1:${await freePort()}` }, 'KW_REDIS_UNAVAILABLE', /ECONNREFUSED/);
  const revoked = await keyward.runtime.members.create('retired', OPERATOR);
  await keyward.runtime.members.revoke(revoked.member.id, OPERATOR);
  await rejects({ credential: revoked.credential }, 'KW_MEMBER_CREDENTIAL_REFUSED', /revoked/);
});

t.test('revoking a member credential stops its running services at once', async (t) => {
  const { apiKey } = await freshKey();
  const { member: record, credential } = await keyward.runtime.members.create('to-retire', OPERATOR);
  const retiring = await open({ credential });
  t.notOk(isKeyRefusal(await retiring.check(apiKey)));
  await keyward.runtime.members.revoke(record.id, OPERATOR);
  await keyward.runtime.keyChecking.fleet.members!.memberRevoked(record.id);
  await t.resolveMatch(
    (async () => {
      for (let i = 0; i < 100 && !isKeyRefusal(retiring.check(apiKey) as never); i++) {
        await sleep(10);
      }
      return retiring.check(apiKey);
    })(),
    { code: 'KW_AUTH_UNAVAILABLE' },
  );
  t.notOk(isKeyRefusal(await member.check(apiKey)), 'other members go on');
});

t.test('without the fleet (explicit) every key is checked with keyward, and a revoke is seen at once', async (t) => {
  const warnings: string[] = [];
  const alone = await open({
    redisUrl: undefined,
    withoutFleet: true,
    logger: { warn: (_, m) => warnings.push(m), error() {} },
  });
  t.match(warnings, [/without the fleet/]);
  const { user, apiKey, keyId } = await freshKey();
  const first = alone.check(apiKey);
  t.ok(first instanceof Promise);
  t.notOk(isKeyRefusal(await first));
  t.ok(alone.check(apiKey) instanceof Promise, 'never trusted from memory');
  await revokeKey(keyward.app, user.cookie, keyId);
  t.match(await alone.check(apiKey), { code: 'KW_API_KEY_REVOKED' });
});

t.test("keyward's own check is unchanged by members", async (t) => {
  const { apiKey } = await freshKey();
  await member.check(apiKey);
  t.equal((await callMe(keyward.app, apiKey)).statusCode, 200);
});

t.test('a wrong secret with a real key id never takes the key down on a member', async (t) => {
  const { user, apiKey, keyId } = await freshKey();
  const fresh = await open();
  for (let i = 0; i < 3; i++)
    t.match(await fresh.check(withLastCharacterChanged(apiKey), '198.51.100.9'), { code: 'KW_INVALID_API_KEY' });
  t.same(await fresh.check(apiKey, '198.51.100.10'), {
    accountId: user.accountId,
    keyId,
    scopes: null,
    metadata: null,
  });
});

t.test('a limited client is refused with 429 and Retry-After, but still served for a key already proven', async (t) => {
  const limited = await keywardForMembers(t, { KEYWARD_FAILED_AUTH_LIMIT: '3' });
  const fresh = await openApiKeyChecker({
    keywardUrl: limited.url,
    credential: limited.credential,
    redisUrl,
    logger: quiet,
  });
  t.teardown(() => fresh.close());
  const user = await signUp(limited.app);
  const { apiKey, keyId } = await createKey(limited.app, user.cookie);
  const address = '192.0.2.44';
  t.same(await fresh.check(apiKey, address), { accountId: user.accountId, keyId, scopes: null, metadata: null });
  // Guesses: well-formed keys (valid checksum) of ids that do not exist.
  const guesses = [];
  for (let i = 0; i < 6; i++) guesses.push(await fresh.check(generateKey('kw').key, address));
  t.match(guesses.at(-1), { code: 'KW_RATE_LIMITED', statusCode: 429, retryAfterSeconds: Number });
  t.same(
    await fresh.check(apiKey, address),
    { accountId: user.accountId, keyId, scopes: null, metadata: null },
    'the proven key still works',
  );
});
