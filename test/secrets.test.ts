import { Redis } from 'ioredis';
import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, callMe, createKey, signUp, testServices } from './helper.js';

t.test('no key, secret or password is stored or logged in plain text', async (t) => {
  const { app, databaseUrl, redisPrefix, log } = await buildTestApp(t);
  const user = await signUp(app);
  const first = await createKey(app, user.cookie);
  const second = await createKey(app, user.cookie);
  await callMe(app, first.apiKey);
  await callMe(app, second.apiKey);
  const rotated = await app.inject({
    method: 'DELETE',
    url: `/v1/keys/${first.keyId}`,
    headers: { cookie: user.cookie },
  });
  t.equal(rotated.statusCode, 200);
  await callMe(app, first.apiKey);
  await app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: user.password } });
  await app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: 'wrong password' } });

  const sql = postgres(databaseUrl!, { max: 1 });
  t.teardown(() => sql.end());
  const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
  let databaseDump = '';
  for (const { tablename } of tables) {
    const rows = await sql.unsafe(`SELECT row_to_json(t)::text AS json FROM "${tablename}" t`);
    databaseDump += rows.map((row) => row.json).join('\n');
  }
  t.match(databaseDump, user.email, 'the dump is real');

  const { redisUrl } = await testServices();
  const redis = new Redis(redisUrl);
  t.teardown(() => redis.disconnect());
  let redisDump = '';
  for (const key of await redis.keys(`${redisPrefix}*`)) {
    redisDump += key + JSON.stringify(await redis.dump(key));
  }

  const logs = log.text();
  t.match(logs, /incoming request/, 'requests were logged');
  const cookieToken = user.cookie.split('=')[1]!;
  for (const apiKey of [first.apiKey, second.apiKey]) {
    const secretPart = apiKey.split('_')[2]!.slice(0, 33);
    for (const [where, text] of [
      ['database', databaseDump],
      ['redis', redisDump],
      ['logs', logs],
    ] as const) {
      t.notOk(text.includes(apiKey), `full key absent from ${where}`);
      t.notOk(text.includes(secretPart), `secret part absent from ${where}`);
      t.notOk(text.includes(user.password), `password absent from ${where}`);
      t.notOk(text.includes(cookieToken), `session token absent from ${where}`);
    }
  }
});
