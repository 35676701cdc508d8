import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import t from 'tap';
import { SecretHasher } from '../../src/keys/secret-hashing.js';
import { buildTestApp, callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { PrivateRedis } from '../support/redis-server.js';
import { eventually } from '../support/wait.js';

/*
 * One instance on a private redis-server that the test kills and restarts.
 * While Redis is gone, keys already proven on this instance keep working from
 * a Postgres status read (the cached digest proves the secret, so no argon2),
 * a key revoked meanwhile is refused, and once Redis is back the instance
 * takes its lease again by itself.
 */

/**
 * A request must never wait on the dead Redis. This bounds a hang (ioredis' defaults wait ~74 s, a reconnect
 * attempt 1 s), far above any scheduling delay of a busy test run: it is not a speed claim.
 */
const NO_HANG_MS = 5000;

t.test('an instance rides out a Redis outage and recovers by itself', async (t) => {
  const redis = await PrivateRedis.start(t);
  const { app, runtime, databaseUrl } = await buildTestApp(t, {
    env: {
      REDIS_URL: redis.url,
      // The revoke below cannot be relayed by anyone (one instance, Redis dead): give up on it quickly.
      KEYWARD_REVOKE_CONFIRM_TIMEOUT_MS: '1000',
      KEYWARD_RELAY_INTERVAL_MS: '200',
    },
  });
  const { checker, fleet } = runtime.keyChecking;
  t.equal(fleet.status().trusted, true, 'holds a lease on the private Redis at start');

  // Every argon2 verification in this process (the runtime's hasher included) and every check's result.
  const verifies = t.capture(SecretHasher.prototype, 'verify', SecretHasher.prototype.verify);
  const checks = t.capture(checker, 'check', checker.check);
  /** The tier of every check since the last call (check() returns a promise unless answered from memory). */
  const tiersOfRequests = async () => {
    const results = checks().map((call) => ('returned' in call ? call.returned : Promise.reject(new Error('threw'))));
    return (await Promise.all(results)).map((result) => result.tier);
  };

  const sql = postgres(databaseUrl!, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end());

  const user = await signUp(app);
  const hot = await createKey(app, user.cookie, 'hot');
  const doomed = await createKey(app, user.cookie, 'doomed');
  for (const [name, key] of Object.entries({ hot, doomed })) {
    for (const round of [1, 2]) t.equal((await callMe(app, key.apiKey)).statusCode, 200, `${name} accepted (${round})`);
  }
  t.same(await tiersOfRequests(), ['postgres', 'memory', 'postgres', 'memory'], 'one cold check per key, then memory');
  t.equal(verifies.calls.length, 2, 'the spy sees the one argon2 verification of each cold check');

  await redis.stop();
  t.ok(
    await eventually(() => !fleet.status().subscribed && !fleet.status().trusted, 3000),
    'the instance notices the lost subscription and stops trusting its cache',
  );

  await t.test('(a) hot keys keep answering, from a Postgres status read without argon2', async (t) => {
    for (let i = 0; i < 5; i++) {
      const startedAt = performance.now();
      const response = await callMe(app, hot.apiKey);
      const tookMs = performance.now() - startedAt;
      t.equal(response.statusCode, 200, `request ${i} accepted`);
      t.same(response.json(), { accountId: user.accountId, keyId: hot.keyId, scopes: null, metadata: null });
      t.ok(tookMs < NO_HANG_MS, `request ${i} did not hang on the dead Redis (${tookMs.toFixed(0)} ms)`);
    }
    t.same(await tiersOfRequests(), Array(5).fill('postgres'), 're-confirmed in Postgres, never trusted from memory');
    t.equal(verifies.calls.length, 2, 'no argon2 ran: the cached digest proved the secret');
  });

  await t.test('(b) a key revoked while Redis is down is refused by this instance', async (t) => {
    const revoke = await revokeKey(app, user.cookie, doomed.keyId);
    // The only instance cannot reach Redis, so nobody can relay the event: A must say it is not confirmed.
    t.equal(revoke.statusCode, 503, 'DELETE answers 503: the revocation is committed but not confirmed');
    t.equal(revoke.json().error?.code, 'revocation_pending');
    const [event] = await sql`SELECT published_at FROM key_events WHERE key_id = ${doomed.keyId}`;
    t.ok(event, 'the revocation is recorded in the outbox');
    t.equal(event?.published_at, null, 'and not published: Redis is unreachable');

    for (let i = 0; i < 3; i++) {
      const startedAt = performance.now();
      const refused = await callMe(app, doomed.apiKey);
      t.equal(refused.statusCode, 401, `revoked key refused (${i})`);
      t.equal(refused.json().error?.code, 'api_key_revoked');
      t.ok(performance.now() - startedAt < NO_HANG_MS, 'without hanging');
    }
    t.equal((await callMe(app, hot.apiKey)).statusCode, 200, 'the other key still works');
    t.equal(verifies.calls.length, 2, 'still no argon2');
  });

  await t.test('(c) once Redis is back the instance takes its lease again, by itself', async (t) => {
    const epochBefore = fleet.status().epoch;
    await redis.restart();
    t.ok(await eventually(() => fleet.status().trusted, 5000), 'trusted again within a few seconds');
    t.equal(fleet.status().subscribed, true);
    t.ok(fleet.status().epoch > epochBefore, 'a new epoch: entries cached during the outage are re-confirmed');

    checks(); // forget earlier results
    t.equal((await callMe(app, hot.apiKey)).statusCode, 200, 're-confirmed once');
    t.equal((await callMe(app, hot.apiKey)).statusCode, 200);
    const tiers = await tiersOfRequests();
    t.not(tiers[0], 'memory', `what was cached during the outage is re-confirmed first (${tiers[0]})`);
    t.equal(tiers[1], 'memory', 'then answered from memory again');
    const direct = checker.check(hot.apiKey);
    t.notOk(direct instanceof Promise, 'a memory hit is answered synchronously');
    t.match(direct, { outcome: 'valid', tier: 'memory' });
    t.equal(verifies.calls.length, 2, 'no argon2 through the whole outage and recovery');

    // The pending revocation reaches Redis through the outbox relay once it answers again.
    t.ok(
      await eventually(async () => {
        const [event] = await sql`SELECT published_at FROM key_events WHERE key_id = ${doomed.keyId}`;
        return event?.published_at != null;
      }, 6000),
      'the unpublished revocation is relayed after Redis returns',
    );
    t.equal((await callMe(app, doomed.apiKey)).statusCode, 401, 'the revoked key stays refused');
    const retry = await revokeKey(app, user.cookie, doomed.keyId);
    t.equal(retry.statusCode, 200, 'retrying the revoke now succeeds');
    t.equal(retry.json().key.status, 'revoked');
  });
});
