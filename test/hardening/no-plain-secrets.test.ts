import { Redis } from 'ioredis';
import postgres from 'postgres';
import t from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, callMe, createKey, revokeKey, rotateKey, signUp } from '../support/app.js';
import { testServices } from '../support/services.js';

t.test('no key, secret or password is stored or logged in plain text', async (t) => {
  const { app, runtime, databaseUrl, redisPrefix, log } = await buildTestApp(t);
  const { redisUrl } = await testServices();

  // Everything published on this instance's channels (key events, acks, heartbeats) during the lifecycle.
  const subscriber = new Redis(redisUrl);
  t.teardown(() => subscriber.disconnect());
  const published: string[] = [];
  subscriber.on('pmessage', (_pattern, channel, message) => published.push(`${channel} ${message}`));
  await subscriber.psubscribe(`${redisPrefix}*`);

  const keyOf = (body: string) => JSON.parse(body) as { apiKey: string; key: { id: string } };
  const cookieOf = (response: { cookies: Array<{ name: string; value: string }> }) =>
    response.cookies.find((c) => c.name === 'keyward_session')!.value;

  // Lifecycle: sign up, two keys in use, revoke one, rotate with a grace period and with none, use every key
  // (valid, revoked, expired, wrong secret), usage flush, usage and audit reads, maintenance, sign-ins that
  // succeed and fail, sign-out.
  const user = await signUp(app);
  const first = await createKey(app, user.cookie);
  const second = await createKey(app, user.cookie);
  await callMe(app, first.apiKey);
  await callMe(app, second.apiKey);
  await app.inject({ url: '/v1/verify', headers: { 'x-api-key': second.apiKey, 'user-agent': 'billing/2.4' } });
  const revoke = await revokeKey(app, user.cookie, first.keyId);
  t.equal(revoke.statusCode, 200);
  t.equal((await callMe(app, first.apiKey)).statusCode, 401, 'revoked key refused');

  const graceful = await rotateKey(app, user.cookie, second.keyId, { expireOldKeyInSeconds: 3600 });
  t.equal(graceful.statusCode, 201, 'rotated with a grace period');
  const third = { apiKey: keyOf(graceful.body).apiKey, keyId: keyOf(graceful.body).key.id };
  await callMe(app, third.apiKey);
  await revokeKey(app, user.cookie, second.keyId);
  const immediate = await rotateKey(app, user.cookie, third.keyId, { expireOldKeyInSeconds: 0, name: 'fourth' });
  t.equal(immediate.statusCode, 201, 'rotated with the old key ended at once');
  const fourth = { apiKey: keyOf(immediate.body).apiKey, keyId: keyOf(immediate.body).key.id };
  t.equal((await callMe(app, third.apiKey)).statusCode, 401, 'expired key refused');
  t.equal((await callMe(app, fourth.apiKey)).statusCode, 200);

  // Keys a client got wrong are secrets too: a mistyped key is one character away from the real one.
  const wrongSecret = generateKey('kw', fourth.keyId).key; // well-formed: reaches the secret check
  const mistyped = fourth.apiKey.slice(0, 30) + (fourth.apiKey[30] === 'x' ? 'y' : 'x') + fourth.apiKey.slice(31);
  for (const wrong of [wrongSecret, mistyped]) t.equal((await callMe(app, wrong)).statusCode, 401);

  await runtime.keyChecking.usage?.flush();
  const usage = await app.inject({ url: `/v1/keys/${fourth.keyId}/usage`, headers: { cookie: user.cookie } });
  t.equal(usage.statusCode, 200);
  t.ok(
    usage.json().minutes.some((m: { requests: number }) => m.requests > 0),
    'usage was flushed',
  );
  t.equal((await app.inject({ url: '/v1/audit', headers: { cookie: user.cookie } })).statusCode, 200);
  t.equal((await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } })).statusCode, 200);
  await runtime.maintenance.runOnce();

  const login = await app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: user.email, password: user.password },
  });
  t.equal(login.statusCode, 200);
  const loginToken = cookieOf(login);
  const wrongPassword = 'wrong password, almost right';
  const failedLogins = [
    { email: user.email, password: wrongPassword },
    { email: 'nobody-here@example.com', password: user.password },
  ];
  for (const payload of failedLogins) {
    t.equal((await app.inject({ method: 'POST', url: '/v1/login', payload })).statusCode, 401, 'failed login');
  }
  const logout = await app.inject({
    method: 'POST',
    url: '/v1/logout',
    headers: { cookie: `keyward_session=${loginToken}` },
  });
  t.equal(logout.statusCode, 204);

  // Postgres: every row of every table.
  const sql = postgres(databaseUrl!, { max: 1 });
  t.teardown(() => sql.end());
  const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
  let databaseDump = '';
  const rowsPerTable: Record<string, number> = {};
  for (const { tablename } of tables) {
    const rows = await sql.unsafe(`SELECT row_to_json(t)::text AS json FROM "${tablename}" t`);
    rowsPerTable[tablename] = rows.length;
    databaseDump += rows.map((row) => row.json).join('\n');
  }
  t.match(databaseDump, user.email, 'the dump is real');
  for (const table of ['api_keys', 'sessions', 'key_events', 'key_usage', 'key_callers', 'audit_events']) {
    t.ok((rowsPerTable[table] ?? 0) > 0, `${table} is in the dump, with rows`);
  }
  for (const action of ['key.rotated', 'key.expired', 'key.revoked', 'session.failed', 'session.ended']) {
    t.match(databaseDump, `"action":"${action}"`, `audit has ${action}`);
  }
  t.match(databaseDump, 'billing/2.4', 'callers were flushed');

  // Redis: every key's value, read as what it is (DUMP alone may be compressed), plus what was published.
  const redis = new Redis(redisUrl);
  t.teardown(() => redis.disconnect());
  let redisDump = '';
  const types = new Set<string>();
  for (const key of await redis.keys(`${redisPrefix}*`)) {
    const type = await redis.type(key);
    types.add(type);
    let value: unknown;
    if (type === 'string') value = await redis.get(key);
    else if (type === 'hash') value = await redis.hgetall(key);
    else if (type === 'set') value = await redis.smembers(key);
    else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'list') value = await redis.lrange(key, 0, -1);
    else if (type === 'stream') value = await redis.xrange(key, '-', '+');
    else t.fail(`Redis key ${key} of unexpected type ${type}`);
    redisDump += `${key} ${type} ${JSON.stringify(value)} ${JSON.stringify(await redis.dump(key))}\n`;
  }
  await subscriber.punsubscribe();
  t.comment(`Redis: ${[...types].join(', ')} values; ${published.length} messages published`);
  const publishedDump = published.join('\n');
  t.match(redisDump, `key:${fourth.keyId}`, 'the Redis dump is real: the hot set');
  t.match(redisDump, 'failed:', 'the Redis dump is real: failed-check counters');
  t.match(publishedDump, first.keyId, 'the revocation was published');

  const logs = log.text();
  t.match(logs, /incoming request/, 'requests were logged');
  const passwords = [user.password, wrongPassword];
  const tokens = [user.cookie.split('=')[1]!, loginToken];
  const keys = [first, second, third, fourth].map((key) => key.apiKey);
  for (const [where, text] of [
    ['database', databaseDump],
    ['redis', redisDump],
    ['redis messages', publishedDump],
    ['logs', logs],
  ] as const) {
    for (const apiKey of [...keys, wrongSecret, mistyped]) {
      t.notOk(text.includes(apiKey), `full key absent from ${where}`);
      t.notOk(text.includes(apiKey.split('_')[2]!.slice(0, 33)), `secret part absent from ${where}`);
    }
    for (const password of passwords) t.notOk(text.includes(password), `password absent from ${where}`);
    for (const token of tokens) t.notOk(text.includes(token), `session token absent from ${where}`);
  }
});
