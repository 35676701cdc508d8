import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import t from 'tap';
import { buildTestApp, callMe, createKey, keepCalling, revokeKey, signUp } from '../support/app.js';
import { PrivateRedis } from '../support/redis-server.js';
import { eventually } from '../support/wait.js';

/*
 * Two instances, A and B, on one database, one Redis key prefix and one
 * server secret. B's subscriber connection is killed on the Redis side
 * (CLIENT KILL TYPE pubsub) and a key is revoked through A right then, so B
 * misses the event. B must not answer 200 for that key in any request sent
 * after A's DELETE returned, and must take its lease again by itself.
 *
 * A private redis-server, because CLIENT KILL TYPE pubsub on the shared one
 * would also cut the subscribers of every other test running against it.
 */

/** B connects as its own ACL user, so CLIENT KILL ... USER can pick B's subscriber alone. */
const B_USER = 'instance-b';
const B_PASSWORD = randomBytes(12).toString('hex');

const scenarios = [
  {
    name: "only B's subscriber is killed, and kept out until A's revoke returned",
    kill: ['KILL', 'TYPE', 'pubsub', 'USER', B_USER],
    // Disabling the user stops B from re-authenticating (its other connections stay), so B
    // deterministically misses the event and the revoke has to wait out B's lease.
    holdOff: true,
  },
  {
    name: 'every subscriber (A and B) is killed and free to reconnect at once',
    kill: ['KILL', 'TYPE', 'pubsub'],
    // The race as it happens: B may reconnect and regain its lease while the revoke is under way.
    holdOff: false,
  },
] as const;

for (const scenario of scenarios) {
  t.test(`a missed event never lets B accept a revoked key: ${scenario.name}`, async (t) => {
    const redis = await PrivateRedis.start(t);
    const admin = new Redis(redis.url);
    t.teardown(() => admin.disconnect());
    await admin.acl('SETUSER', B_USER, 'on', `>${B_PASSWORD}`, 'allkeys', 'allchannels', 'allcommands');

    const common = {
      // Instances of a fleet share the server secret: it keys the digests in the Redis hot set.
      KEYWARD_SECRET: randomBytes(32).toString('base64url'),
      // The clients below send hundreds of refused requests from one address: no 429 for them.
      KEYWARD_FAILED_AUTH_LIMIT: '1000000',
    };
    const a = await buildTestApp(t, { env: { ...common, REDIS_URL: redis.url } });
    const bUrl = new URL(redis.url);
    bUrl.username = B_USER;
    bUrl.password = B_PASSWORD;
    const b = await buildTestApp(t, {
      env: {
        ...common,
        REDIS_URL: bUrl.toString(),
        DATABASE_URL: a.databaseUrl!,
        REDIS_KEY_PREFIX: a.redisPrefix!,
      },
    });
    const fleetB = b.runtime.keyChecking.fleet;
    t.ok(
      await eventually(() => a.runtime.keyChecking.fleet.status().trusted && fleetB.status().trusted, 10_000),
      'both hold a lease',
    );

    // `doomed` is hammered on B throughout; `quiet` is not asked of B again until B has its lease
    // back, so B still holds it as active from before the kill; `kept` (another account) stays valid.
    const user = await signUp(a.app);
    const doomed = await createKey(a.app, user.cookie, 'doomed');
    const quiet = await createKey(a.app, user.cookie, 'quiet');
    const kept = await createKey(a.app, (await signUp(a.app, 'Other')).cookie, 'kept');
    for (const [name, key] of Object.entries({ doomed, quiet, kept })) {
      for (const [instance, app] of Object.entries({ A: a.app, B: b.app })) {
        // Twice: the first check fills the in-process cache (from Redis or Postgres), the second is served from it.
        for (const round of [1, 2]) {
          t.equal((await callMe(app, key.apiKey)).statusCode, 200, `${name} accepted by ${instance} (${round})`);
        }
      }
    }
    const checkerB = b.runtime.keyChecking.checker;
    t.match(checkerB.check(quiet.apiKey), { outcome: 'valid', tier: 'memory' }, "hot in B's memory");

    // Did B hear the revocations through its subscription? Recorded to tell which case ran.
    const changed = t.capture(checkerB.cache, 'changed', checkerB.cache.changed);

    // A client of B keeps sending the doomed key from before the kill until B is back.
    const { samples, stop: stopCalling } = keepCalling(t, b.app, doomed.apiKey, 5);
    await eventually(() => samples.some((sample) => sample.status === 200));

    const epochBefore = fleetB.status().epoch;
    if (scenario.holdOff) await admin.acl('SETUSER', B_USER, 'off');
    const killed = (await admin.call('CLIENT', ...scenario.kill)) as number;
    t.equal(killed, scenario.holdOff ? 1 : 2, 'the subscriber connections were killed');

    const revokeStartedAt = performance.now();
    const revokeThroughA = async (keyId: string) => {
      const response = await revokeKey(a.app, user.cookie, keyId);
      return { response, returnedAt: performance.now() };
    };
    const [revokeDoomed, revokeQuiet] = await Promise.all([revokeThroughA(doomed.keyId), revokeThroughA(quiet.keyId)]);
    const heard = changed().map(({ args }) => args[0]);
    for (const { response } of [revokeDoomed, revokeQuiet]) {
      t.equal(response.statusCode, 200, 'A could publish: the revoke succeeds');
      t.equal(response.json().key.status, 'revoked');
    }
    if (scenario.holdOff) {
      t.same(heard, [], 'B missed both events (its subscriber was down throughout)');
      t.equal(fleetB.status().subscribed, false, 'B is still cut off when the revokes return');
    } else {
      t.comment(`B heard ${heard.length} of the 2 events before the revokes returned`);
    }

    const refused = await callMe(b.app, doomed.apiKey);
    t.equal(refused.statusCode, 401, 'B refuses the key right after the revoke returned');
    t.equal(refused.json().error?.code, 'api_key_revoked');
    t.equal((await callMe(b.app, kept.apiKey)).statusCode, 200, "B still accepts the other account's key");

    if (scenario.holdOff) await admin.acl('SETUSER', B_USER, 'on');
    t.ok(await eventually(() => fleetB.status().trusted, 5000), "B's trust recovers by itself");
    t.equal(fleetB.status().subscribed, true);
    t.ok(fleetB.status().epoch > epochBefore, 'in a new epoch: what B cached before must be re-confirmed');

    // B trusts its memory again, where `quiet` may still be cached as active from before the kill.
    const quietOnB = await callMe(b.app, quiet.apiKey);
    t.equal(quietOnB.statusCode, 401, 'the recovered B refuses the key it never heard was revoked');
    t.equal(quietOnB.json().error?.code, 'api_key_revoked');

    // A few more requests to the recovered B (counted, not timed).
    await eventually(() => samples.filter((sample) => sample.sentAt >= revokeDoomed.returnedAt).length >= 5);
    await stopCalling();
    changed.restore();

    const afterReturn = samples.filter((sample) => sample.sentAt >= revokeDoomed.returnedAt);
    t.ok(afterReturn.length > 0, `B was asked after the revoke returned (${afterReturn.length} requests)`);
    t.same(
      afterReturn.filter((sample) => sample.status !== 401 || sample.code !== 'api_key_revoked'),
      [],
      'every request sent to B after the revoke returned was refused as revoked',
    );
    t.ok(
      samples.some((sample) => sample.sentAt < revokeStartedAt && sample.status === 200),
      'B accepted the key before the revoke',
    );
    for (const key of [doomed, quiet]) {
      t.equal((await callMe(b.app, key.apiKey)).statusCode, 401, 'the recovered B keeps refusing');
    }
    t.equal((await callMe(b.app, kept.apiKey)).statusCode, 200, 'the recovered B serves the other key');
    t.match(checkerB.check(kept.apiKey), { outcome: 'valid', tier: 'memory' }, 'from memory again');
    t.comment(
      `revokes took ${(revokeDoomed.returnedAt - revokeStartedAt).toFixed(0)} and ` +
        `${(revokeQuiet.returnedAt - revokeStartedAt).toFixed(0)} ms; ${samples.length} requests to B in all`,
    );
  });
}
