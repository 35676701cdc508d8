import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { openApiKeyChecker } from '../../packages/member/src/index.js';
import { memberAclRules } from '../../src/members/member-redis-acl.js';
import { callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { PrivateRedis } from '../support/redis-server.js';
import { keywardForMembers } from '../support/members.js';

/*
 * A member runs as a Redis ACL user with the least rights (docs/fleet-members.md):
 * it hears and acknowledges revocations, and can change nothing another instance
 * reads. Today's poisoning (a service writing a hot-set entry under a wrong
 * secret, after which valid keys failed everywhere) is tried and refused.
 */

const redis = await PrivateRedis.start(t);
const prefix = 'acl-test:';
const keyward = await keywardForMembers(t, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
const admin = new Redis(redis.url);
t.teardown(() => admin.disconnect());
const password = randomBytes(24).toString('base64url');
await admin.call('ACL', 'SETUSER', ...memberAclRules(prefix, 'keyward-member', password));
const memberRedisUrl = `redis://keyward-member:${password}@127.0.0.1:${redis.port}`;

t.test('a member with the ACL user checks keys and hears revocations', async (t) => {
  const member = await openApiKeyChecker({
    keywardUrl: keyward.url,
    credential: keyward.credential,
    redisUrl: memberRedisUrl,
    logger: { warn() {}, error() {} },
  });
  t.teardown(() => member.close());
  const user = await signUp(keyward.app);
  const { apiKey, keyId } = await createKey(keyward.app, user.cookie);
  t.same(await member.check(apiKey), { accountId: user.accountId, keyId, scopes: null, metadata: null });
  await revokeKey(keyward.app, user.cookie, keyId);
  t.match(member.check(apiKey), { code: 'KW_API_KEY_REVOKED' }, 'refused when the revoke call returned');
});

t.test('the member user can write nothing another instance reads', async (t) => {
  const asMember = new Redis(memberRedisUrl, { enableReadyCheck: false, maxRetriesPerRequest: 0 });
  t.teardown(() => asMember.disconnect());
  const user = await signUp(keyward.app);
  const { apiKey, keyId } = await createKey(keyward.app, user.cookie);
  t.equal((await callMe(keyward.app, apiKey)).statusCode, 200, 'the key is in the hot set now');
  const forged = JSON.stringify({ d: randomBytes(32).toString('base64'), a: user.accountId, s: 'active' });
  const refusals: Array<[string, Promise<unknown>]> = [
    ['write a hot-set entry (the poisoning)', asMember.set(`${prefix}key:${keyId}`, forged)],
    ['read a hot-set entry', asMember.get(`${prefix}key:${keyId}`)],
    ['delete a hot-set entry', asMember.del(`${prefix}key:${keyId}`)],
    ['join the registry itself', asMember.zadd(`${prefix}instances`, Date.now() + 1e9, 'forged')],
    ['remove others from the registry', asMember.zrem(`${prefix}instances`, 'anyone')],
    ['publish key events', asMember.publish(`${prefix}key-events`, '{"r":"x","f":"y","ev":[]}')],
    ['publish echoes', asMember.publish(`${prefix}echo:member.x.y`, '1')],
    ['publish member revocations', asMember.publish(`${prefix}member-revocations`, keyward.memberId)],
    ['add to the failed-check limiter', asMember.incrby(`${prefix}failed:203.0.113.9:0`, 1000)],
    ['run a script', asMember.eval("return redis.call('SET', KEYS[1], 'x')", 1, `${prefix}key:${keyId}`)],
  ];
  for (const [what, attempt] of refusals) await t.rejects(attempt, /NOPERM/, `cannot ${what}`);
  t.equal(await asMember.publish(`${prefix}acks:someone`, '{}'), 0, 'may acknowledge');
  t.equal((await callMe(keyward.app, apiKey)).statusCode, 200, 'the valid key still works on keyward');
});
