import postgres from 'postgres';
import t from 'tap';
import type { Test } from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { createTestDatabase } from '../support/services.js';
import { errorOf } from '../support/http.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { eventually } from '../support/wait.js';

/*
 * Postgres goes away behind a TcpProxy (never the shared server): `cut()` is a
 * crashed server or reset connections, `blackhole()` a partition where
 * queries hang until a timeout. Redis stays up throughout.
 */

const DATABASE_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;

async function buildProxiedApp(t: Test) {
  // A database of our own, reached by the app only through the proxy. (buildTestApp also creates one; the
  // DATABASE_URL override makes the app use ours instead.)
  const databaseUrl = await createTestDatabase(t);
  const { hostname, port } = new URL(databaseUrl);
  const proxy = await TcpProxy.start(t, { host: hostname, port: Number(port) });
  const built = await buildTestApp(t, {
    env: {
      DATABASE_URL: proxy.urlFor(databaseUrl),
      KEYWARD_DATABASE_TIMEOUT_MS: String(DATABASE_TIMEOUT_MS),
      KEYWARD_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    },
  });
  // Direct access, bypassing the proxy: what Postgres really holds.
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  return { ...built, proxy, sql };
}

for (const failure of ['cut', 'blackhole'] as const) {
  t.test(`Postgres ${failure}: hot keys keep working, nothing else pretends to`, async (t) => {
    const { app, proxy, sql } = await buildProxiedApp(t);
    const user = await signUp(app);
    const hot = await createKey(app, user.cookie, 'hot');
    const cold = await createKey(app, user.cookie, 'cold'); // never presented to anyone before the outage
    t.equal((await callMe(app, hot.apiKey)).statusCode, 200);
    const keysBefore = await sql`SELECT id, slot, revoked_at, expires_at FROM api_keys ORDER BY id`;
    const eventsBefore = await sql`SELECT count(*)::int AS n FROM key_events`;

    proxy[failure]();

    for (let i = 0; i < 3; i++) {
      const me = await callMe(app, hot.apiKey);
      t.equal(me.statusCode, 200, 'a key already hot keeps answering');
      t.same(me.json(), { accountId: user.accountId, keyId: hot.keyId, scopes: null, metadata: null });
    }

    // Without Postgres a key never seen can be neither proven nor refused: 503, never 200 or 401.
    for (const [label, apiKey] of [
      ['valid cold key', cold.apiKey],
      ['valid cold key again (no answer was cached)', cold.apiKey],
      ['unknown key id', generateKey('kw').key],
    ] as const) {
      const response = await callMe(app, apiKey);
      t.equal(response.statusCode, 503, label);
      t.equal(errorOf(response).code, 'auth_unavailable', label);
      t.equal(errorOf(response).requestId, response.headers['x-request-id'], label);
    }
    t.equal((await callMe(app, 'not-a-key')).statusCode, 401, 'a malformed key needs no database: still 401');

    const cookie = user.cookie;
    const management = [
      ['list keys', { method: 'GET', url: '/v1/keys', headers: { cookie } }],
      ['create key', { method: 'POST', url: '/v1/keys', headers: { cookie }, payload: { name: 'during outage' } }],
      ['revoke key', { method: 'DELETE', url: `/v1/keys/${hot.keyId}`, headers: { cookie } }],
      ['rotate key', { method: 'POST', url: `/v1/keys/${cold.keyId}/rotate`, headers: { cookie }, payload: {} }],
    ] as const;
    for (const [label, request] of management) {
      const response = await app.inject(request);
      t.equal(response.statusCode, 503, label);
      t.equal(errorOf(response).code, 'service_unavailable', label);
      t.equal(errorOf(response).requestId, response.headers['x-request-id'], label);
    }
    t.equal((await callMe(app, hot.apiKey)).statusCode, 200, 'the failed revoke changed nothing');

    proxy.restore();

    // Recovery needs no restart or operator: the pool reconnects by itself.
    t.ok(
      await eventually(async () => (await callMe(app, cold.apiKey)).statusCode === 200, 15_000),
      'the cold key is checked again once Postgres is back',
    );
    t.ok(
      await eventually(
        async () => (await app.inject({ method: 'GET', url: '/v1/keys', headers: { cookie } })).statusCode === 200,
        15_000,
      ),
      'the dashboard answers again',
    );

    // Nothing was half-written: the keys and events are exactly those from before the outage.
    t.same(await sql`SELECT id, slot, revoked_at, expires_at FROM api_keys ORDER BY id`, keysBefore);
    t.same(await sql`SELECT count(*)::int AS n FROM key_events`, eventsBefore);

    const revoke = await revokeKey(app, cookie, hot.keyId);
    t.equal(revoke.statusCode, 200, 'revoking works again');
    t.equal(errorOf(await callMe(app, hot.apiKey)).code, 'api_key_revoked');
    t.equal((await callMe(app, cold.apiKey)).statusCode, 200);
    t.ok((await createKey(app, cookie, 'after outage')).apiKey, 'creating works again');
  });
}

t.test('a management call that answered 503 does not change anything afterwards', async (t) => {
  // Postgres stops answering in the middle of a transaction whose connection survives (a slow or
  // partitioned database: TCP delivers the query once the network heals). Here another session holds
  // the rows the calls must lock, which is the same from the app's side and needs no timing luck.
  const { app, sql } = await buildProxiedApp(t);
  const user = await signUp(app);
  const cookie = user.cookie;
  const key = await createKey(app, cookie, 'existing');
  const keysBefore = await sql`SELECT id, slot, revoked_at, expires_at FROM api_keys ORDER BY id`;
  const eventsBefore = await sql`SELECT count(*)::int AS n FROM key_events`;

  await sql.begin(async (tx) => {
    await tx`SELECT id FROM accounts WHERE id = ${user.accountId} FOR UPDATE`;
    await tx`SELECT id FROM api_keys WHERE account_id = ${user.accountId} FOR UPDATE`;
    for (const [label, request] of [
      ['create key', { method: 'POST', url: '/v1/keys', headers: { cookie }, payload: { name: 'abandoned' } }],
      ['revoke key', { method: 'DELETE', url: `/v1/keys/${key.keyId}`, headers: { cookie } }],
      ['rotate key', { method: 'POST', url: `/v1/keys/${key.keyId}/rotate`, headers: { cookie }, payload: {} }],
    ] as const) {
      const response = await app.inject(request);
      t.equal(response.statusCode, 503, label);
      t.equal(errorOf(response).code, 'service_unavailable', label);
      t.match(errorOf(response).message, /Nothing was changed/, `${label}: the client is told nothing changed`);
    }
  }); // Postgres answers again

  // Let whatever the abandoned requests still do reach Postgres: wait until no keyward session is busy.
  t.ok(
    await eventually(async () => {
      const [row] = await sql`
        SELECT count(*)::int AS busy FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'keyward' AND state <> 'idle'`;
      return row!.busy === 0;
    }, 10_000),
  );
  t.same(
    await sql`SELECT id, slot, revoked_at, expires_at FROM api_keys ORDER BY id`,
    keysBefore,
    'the keys are exactly as before: "Nothing was changed" was true',
  );
  t.same(await sql`SELECT count(*)::int AS n FROM key_events`, eventsBefore, 'and no key event was recorded');
});
