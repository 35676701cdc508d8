import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, callMe, createKey, keepCalling, revokeKey, signUp } from '../support/app.js';
import { testServices } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { eventually } from '../support/wait.js';

/*
 * Two instances on one database and Redis prefix: A reaches Redis through a
 * TCP proxy the test cuts, B directly. A key revoked through A while A cannot
 * reach Redis is left unpublished in the key_events outbox; B's relay
 * publishes it, and A's revoke call returns only once that happened (200), or,
 * when KEYWARD_REVOKE_CONFIRM_TIMEOUT_MS ends first, says it could not be
 * confirmed (503 revocation_pending). Each path is forced by its own confirm
 * timeout. Either way B must refuse the key in every request sent after A's
 * call returned (200), or once the owed relay happened (503).
 */

/** Events become due for relaying RELAY_AFTER_MS (2 s) after their commit; B looks every 200 ms. */
const PATHS = [
  // Room for the relay (~2.2 s) and A's wait for leases after it (≤ 1.5 s), under the 10 s request deadline.
  { expect: 200, revokeConfirmTimeoutMs: 8000 },
  // A gives up long before any relay is due.
  { expect: 503, revokeConfirmTimeoutMs: 300 },
] as const;

for (const { expect, revokeConfirmTimeoutMs } of PATHS) {
  t.test(`a revocation A cannot publish is relayed by B (A answers ${expect})`, async (t) => {
    const { redisUrl } = await testServices();
    const common = {
      // Instances of a fleet share the server secret: it keys the digests in the Redis hot set.
      KEYWARD_SECRET: randomBytes(32).toString('base64url'),
      KEYWARD_RELAY_INTERVAL_MS: '200',
      KEYWARD_REVOKE_CONFIRM_TIMEOUT_MS: String(revokeConfirmTimeoutMs),
      // The client below sends many refused requests from one address: no 429 for them.
      KEYWARD_FAILED_AUTH_LIMIT: '1000000',
    };
    const b = await buildTestApp(t, { env: common });
    const { hostname, port } = new URL(redisUrl);
    const proxy = await TcpProxy.start(t, { host: hostname, port: Number(port) });
    const a = await buildTestApp(t, {
      env: {
        ...common,
        REDIS_URL: proxy.urlFor(redisUrl),
        DATABASE_URL: b.databaseUrl!,
        REDIS_KEY_PREFIX: b.redisPrefix!,
      },
    });
    const fleetA = a.runtime.keyChecking.fleet;
    t.ok(
      await eventually(() => fleetA.status().trusted && b.runtime.keyChecking.fleet.status().trusted, 10_000),
      'both hold a lease',
    );

    const sql = postgres(b.databaseUrl!, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end());
    const publishedAt = async (keyId: string) => {
      const rows = await sql`SELECT published_at FROM key_events WHERE key_id = ${keyId}`;
      return (rows[0]?.published_at ?? null) as Date | null;
    };

    const user = await signUp(a.app);
    const doomed = await createKey(a.app, user.cookie, 'doomed');
    const kept = await createKey(a.app, user.cookie, 'kept');
    for (const [name, key] of Object.entries({ doomed, kept })) {
      for (const [instance, app] of Object.entries({ A: a.app, B: b.app })) {
        // Twice: the first check fills the in-process cache (from Redis or Postgres), the second is served from it.
        for (const round of [1, 2]) {
          t.equal((await callMe(app, key.apiKey)).statusCode, 200, `${name} accepted by ${instance} (${round})`);
        }
      }
    }
    t.match(b.runtime.keyChecking.checker.check(doomed.apiKey), { outcome: 'valid', tier: 'memory' }, 'hot on B');
    t.match(a.runtime.keyChecking.checker.check(doomed.apiKey), { outcome: 'valid', tier: 'memory' }, 'hot on A');

    // A client of B keeps sending the doomed key until well after A's call returned.
    const { samples, stop: stopCalling } = keepCalling(t, b.app, doomed.apiKey, 10);
    await eventually(() => samples.some((sample) => sample.status === 200));

    proxy.cut();
    t.ok(await eventually(() => !fleetA.status().subscribed, 3000), 'A notices it lost Redis');

    const revokeStartedAt = performance.now();
    const revoke = await revokeKey(a.app, user.cookie, doomed.keyId);
    const revokeReturnedAt = performance.now();
    t.comment(
      `revoke through A answered ${revoke.statusCode} after ${(revokeReturnedAt - revokeStartedAt).toFixed(0)} ms`,
    );
    t.equal(revoke.statusCode, expect, `A answers ${expect}`);
    t.equal(
      (await sql`SELECT count(*)::int AS n FROM key_events WHERE key_id = ${doomed.keyId}`)[0]?.n,
      1,
      'one event',
    );
    if (expect === 200) {
      t.equal(revoke.json().key.status, 'revoked');
      t.ok(await publishedAt(doomed.keyId), 'A returned 200 only once the event was published');
      t.match(b.log.text(), /relayed key events another instance could not publish/, 'by B, the one that could');
    } else {
      // A gave up waiting: the relay is still owed, and must still happen.
      t.equal(revoke.json().error?.code, 'revocation_pending');
      t.ok(await eventually(async () => (await publishedAt(doomed.keyId)) !== null, 5000), 'B relays the event');
      // B hears its own relayed event through its subscription, a moment after publishing it.
      t.ok(await eventually(async () => (await callMe(b.app, doomed.apiKey)).statusCode === 401, 2000), 'B hears it');
    }

    const onB = await callMe(b.app, doomed.apiKey);
    t.equal(onB.statusCode, 401, 'B refuses the key once the event is out');
    t.equal(onB.json().error?.code, 'api_key_revoked');
    const onA = await callMe(a.app, doomed.apiKey);
    t.equal(onA.statusCode, 401, 'A refuses it too, Redis or not');
    t.equal(onA.json().error?.code, 'api_key_revoked');
    t.equal((await callMe(b.app, kept.apiKey)).statusCode, 200, 'B still accepts the other key');
    t.equal((await callMe(a.app, kept.apiKey)).statusCode, 200, 'A still accepts the other key');

    // A few requests to B after A's call returned (counted, not timed).
    await eventually(() => samples.filter((sample) => sample.sentAt >= revokeReturnedAt).length >= 5);
    await stopCalling();
    t.ok(
      samples.some((sample) => sample.sentAt < revokeStartedAt && sample.status === 200),
      'B accepted the key before the revoke',
    );
    if (expect === 200) {
      const afterReturn = samples.filter((sample) => sample.sentAt >= revokeReturnedAt);
      t.ok(afterReturn.length > 0, `B was asked after A's call returned (${afterReturn.length} requests)`);
      t.same(
        afterReturn.filter((sample) => sample.status !== 401 || sample.code !== 'api_key_revoked'),
        [],
        "every request sent to B after A's call returned was refused as revoked",
      );
    }

    // A reconnects by itself once the network is back, and keeps refusing the key.
    proxy.restore();
    t.ok(await eventually(() => fleetA.status().trusted, 5000), 'A takes its lease again');
    t.equal((await callMe(a.app, doomed.apiKey)).statusCode, 401);
    t.equal((await callMe(a.app, kept.apiKey)).statusCode, 200);
  });
}
