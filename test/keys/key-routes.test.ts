import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, callMe, createKey, revokeKey, rotateKey, signUp } from '../support/app.js';
import { sleep } from '../support/wait.js';

t.test('key routes', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);
  const sql = postgres(databaseUrl!, { max: 2 });
  t.teardown(() => sql.end());

  t.test('50 concurrent creates on an empty account leave exactly 2 active keys', async (t) => {
    const user = await signUp(app);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload: { name: `k${i}` } }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode);
    t.equal(statuses.filter((status) => status === 201).length, 2);
    t.equal(statuses.filter((status) => status === 409).length, 48);
    for (const response of responses.filter((r) => r.statusCode === 409)) {
      t.equal(response.json().error.code, 'key_limit_reached');
    }
    const [row] = await sql`SELECT count(*)::int AS count FROM api_keys WHERE account_id = ${user.accountId}`;
    t.equal(row!.count, 2, 'no half-written rows from the refused creates');
  });

  t.test('the database itself refuses a third active key', async (t) => {
    const user = await signUp(app);
    await createKey(app, user.cookie);
    await createKey(app, user.cookie);
    const error = await sql`
      INSERT INTO api_keys (id, account_id, name, secret_hash, hint, slot)
      VALUES ('AAAAAAAAAAAAAAAA', ${user.accountId}, 'sneaky', 'x', 'x', 1)`.catch((e: unknown) => e);
    t.match(error, { code: '23505' }, 'unique violation on (account_id, slot)');
    const badSlot = await sql`
      INSERT INTO api_keys (id, account_id, name, secret_hash, hint, slot)
      VALUES ('BBBBBBBBBBBBBBBB', ${user.accountId}, 'sneaky', 'x', 'x', 3)`.catch((e: unknown) => e);
    t.match(badSlot, { code: '23514' }, 'slot must be 1 or 2');
  });

  t.test('another account cannot see, revoke or rotate my keys: 404', async (t) => {
    const owner = await signUp(app);
    const stranger = await signUp(app, 'Stranger');
    const key = await createKey(app, owner.cookie);
    const list = await app.inject({ url: '/v1/keys', headers: { cookie: stranger.cookie } });
    t.same(list.json().keys, []);
    const revoke = await revokeKey(app, stranger.cookie, key.keyId);
    t.equal(revoke.statusCode, 404);
    t.equal(revoke.json().error.code, 'key_not_found');
    const rotate = await rotateKey(app, stranger.cookie, key.keyId);
    t.equal(rotate.statusCode, 404);
    t.equal((await callMe(app, key.apiKey)).statusCode, 200, 'the key still works');
  });

  t.test('bad key ids and bodies answer 400, unknown ids 404', async (t) => {
    const user = await signUp(app);
    for (const id of ['short', 'x'.repeat(300), '%00%00', 'AAAAAAAAAAAAAAA-']) {
      const response = await revokeKey(app, user.cookie, id);
      t.ok([400, 414].includes(response.statusCode), `${id.slice(0, 20)}: ${response.statusCode}`);
      t.match(response.json().error.code, /^(invalid_request|uri_too_long)$/);
    }
    const unknown = await app.inject({
      method: 'DELETE',
      url: '/v1/keys/AAAAAAAAAAAAAAAA',
      headers: { cookie: user.cookie },
    });
    t.equal(unknown.statusCode, 404);
    const messages: Array<[object, RegExp]> = [
      [{ name: '' }, /^body\/name must NOT have fewer than 1 characters$/],
      [{ name: 'x'.repeat(101) }, /^body\/name must NOT have more than 100 characters$/],
      [{ name: 7 }, /^body\/name must be string$/],
      [{ extra: true }, /^body must NOT have additional property 'extra'$/],
    ];
    for (const [payload, message] of messages) {
      const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload });
      t.equal(response.statusCode, 400, JSON.stringify(payload));
      t.match(response.json().error.message, message, 'the message names the field');
    }
    const notJson = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: user.cookie, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    t.equal(notJson.statusCode, 400);
    t.equal(notJson.json().error.code, 'invalid_request');
    const huge = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: user.cookie, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(100_000) }),
    });
    t.equal(huge.statusCode, 413);
    t.equal(huge.json().error.code, 'payload_too_large');
    const list = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.same(list.json().keys, [], 'no bad request created anything');
  });

  t.test('revoking is idempotent', async (t) => {
    const user = await signUp(app);
    const key = await createKey(app, user.cookie);
    const first = await revokeKey(app, user.cookie, key.keyId);
    const second = await revokeKey(app, user.cookie, key.keyId);
    t.equal(second.statusCode, 200);
    t.equal(second.json().key.revokedAt, first.json().key.revokedAt);
    const events = await sql`SELECT kind FROM key_events WHERE key_id = ${key.keyId}`;
    t.same(
      events.map((row) => row.kind),
      ['revoked'],
      'one revocation recorded',
    );
  });

  t.test('rotate with a grace period: both work, then the old key expires', async (t) => {
    const user = await signUp(app);
    const old = await createKey(app, user.cookie, 'prod');
    const rotate = await rotateKey(app, user.cookie, old.keyId, { expireOldKeyInSeconds: 1 });
    t.equal(rotate.statusCode, 201);
    const body = rotate.json();
    t.match(body.key.name, /^prod \(rotated \d{4}-\d{2}-\d{2}\)$/);
    t.equal(body.oldKey.status, 'active');
    t.ok(body.oldKey.expiresAt, 'expiry scheduled');
    t.equal((await callMe(app, body.apiKey)).statusCode, 200);
    t.equal((await callMe(app, old.apiKey)).statusCode, 200, 'old key works during the grace period');

    const again = await rotateKey(app, user.cookie, old.keyId);
    t.equal(again.statusCode, 409, 'both slots are taken');

    await sleep(Date.parse(body.oldKey.expiresAt) - Date.now() + 50);
    const expired = await callMe(app, old.apiKey);
    t.equal(expired.statusCode, 401);
    t.equal(expired.json().error.code, 'api_key_expired');

    const third = await createKey(app, user.cookie);
    t.ok(third.apiKey, 'the expired key freed its slot');
    const events = await sql`SELECT kind FROM key_events WHERE key_id = ${old.keyId} ORDER BY seq`;
    t.same(
      events.map((row) => row.kind),
      ['expiry_scheduled', 'expired'],
    );
  });

  t.test('rotate with expireOldKeyInSeconds 0 ends the old key at once, even with two active', async (t) => {
    const user = await signUp(app);
    const old = await createKey(app, user.cookie);
    await createKey(app, user.cookie);
    const rotate = await rotateKey(app, user.cookie, old.keyId, { name: 'fresh', expireOldKeyInSeconds: 0 });
    t.equal(rotate.statusCode, 201);
    t.equal(rotate.json().oldKey.status, 'expired');
    t.equal((await callMe(app, old.apiKey)).statusCode, 401);
    t.equal((await callMe(app, rotate.json().apiKey)).statusCode, 200);
  });

  t.test('a revoked key cannot be rotated', async (t) => {
    const user = await signUp(app);
    const key = await createKey(app, user.cookie);
    await revokeKey(app, user.cookie, key.keyId);
    const rotate = await rotateKey(app, user.cookie, key.keyId);
    t.equal(rotate.statusCode, 409);
    t.equal(rotate.json().error.code, 'key_not_active');
  });
});

t.test('with default settings, keys are stored as argon2id m=19456,t=2,p=1 and nothing else', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t, {
    env: { KEYWARD_ARGON2_MEMORY_KIB: '19456', KEYWARD_ARGON2_TIME_COST: '2' },
  });
  const user = await signUp(app);
  const key = await createKey(app, user.cookie);
  const sql = postgres(databaseUrl!, { max: 1 });
  t.teardown(() => sql.end());
  const [row] = await sql`SELECT secret_hash, hint FROM api_keys WHERE id = ${key.keyId}`;
  const argon2Defaults = /^\$argon2id\$v=19\$(?=[^$]*\bm=19456\b)(?=[^$]*\bt=2\b)(?=[^$]*\bp=1\b)/;
  t.match(row!.secret_hash, argon2Defaults);
  t.equal(row!.hint, `kw_${key.keyId}_…${key.apiKey.slice(-4)}`);
  const [user_] = await sql`SELECT password_hash FROM users WHERE id = ${user.userId}`;
  t.match(user_!.password_hash, argon2Defaults);
});
