import postgres from 'postgres';
import t from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { withLastCharacterChanged } from '../support/keys.js';

t.test('GET /v1/me answers 401 for every kind of bad key, with one body for the unproven ones', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);
  const user = await signUp(app);
  const good = await createKey(app, user.cookie);
  const wrongSecret = generateKey('kw', good.keyId).key; // right id, valid checksum, wrong secret
  const unknown = generateKey('kw').key;

  const unproven: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['empty', ''],
    ['malformed', 'hello'],
    ['bad checksum', withLastCharacterChanged(good.apiKey)],
    ['unknown id', unknown],
    ['wrong secret', wrongSecret],
    ['other prefix', good.apiKey.replace(/^kw_/, 'zz_')],
  ];
  const bodies = new Set<string>();
  for (const [label, value] of unproven) {
    const response = await callMe(app, value);
    t.equal(response.statusCode, 401, label);
    const { code, message } = response.json().error;
    bodies.add(JSON.stringify({ code, message }));
  }
  t.same(
    [...bodies],
    [JSON.stringify({ code: 'invalid_api_key', message: 'A valid API key is required in the x-api-key header.' })],
  );

  t.equal((await callMe(app, good.apiKey)).statusCode, 200);

  const sql = postgres(databaseUrl!, { max: 1 });
  t.teardown(() => sql.end());
  const second = await createKey(app, user.cookie);
  await sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${second.keyId}`;
  const expired = await callMe(app, second.apiKey);
  t.equal(expired.statusCode, 401);
  t.equal(expired.json().error.code, 'api_key_expired', 'the holder of the full key learns why');

  await revokeKey(app, user.cookie, good.keyId);
  const revoked = await callMe(app, good.apiKey);
  t.equal(revoked.statusCode, 401);
  t.equal(revoked.json().error.code, 'api_key_revoked');
  t.equal(
    (await callMe(app, wrongSecret)).json().error.code,
    'invalid_api_key',
    'revocation is not revealed without the secret',
  );
});

t.test('every response carries a request id, honouring a sane incoming one', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true });
  const mine = await app.inject({ url: '/v1/me', headers: { 'x-request-id': 'trace-123' } });
  t.equal(mine.headers['x-request-id'], 'trace-123');
  t.equal(mine.json().error.requestId, 'trace-123');
  const insane = await app.inject({ url: '/v1/me', headers: { 'x-request-id': 'a b\u0001'.repeat(40) } });
  t.match(insane.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  const missing = await app.inject({ url: '/v1/nothing-here' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().error.code, 'not_found');
});
