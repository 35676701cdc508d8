import t from 'tap';
import { buildTestApp, callMe, createKey, revokeKey, signUp } from '../support/app.js';

/*
 * The README's walkthrough, end to end: sign up → create a key → call /v1/me
 * → second key → a third is refused → revoke one → it answers 401. Run on real
 * Postgres + Redis and on the embedded default, so `npm start` stays honest.
 */
for (const mode of ['postgres+redis', 'embedded'] as const) {
  t.test(`key lifecycle on ${mode}`, async (t) => {
    const { app } = await buildTestApp(t, { embedded: mode === 'embedded' });
    const user = await signUp(app);

    const first = await createKey(app, user.cookie, 'production');
    const me = await callMe(app, first.apiKey);
    t.equal(me.statusCode, 200);
    t.same(me.json(), { accountId: user.accountId, keyId: first.keyId, scopes: null, metadata: null });

    const second = await createKey(app, user.cookie, 'next');
    t.equal((await callMe(app, second.apiKey)).statusCode, 200, 'both keys work during a rotation');
    t.equal((await callMe(app, first.apiKey)).statusCode, 200);

    const third = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload: {} });
    t.equal(third.statusCode, 409);
    t.equal(third.json().error.code, 'key_limit_reached');
    t.match(third.json().error.message, /Revoke one/);

    const revoke = await revokeKey(app, user.cookie, first.keyId);
    t.equal(revoke.statusCode, 200);
    t.equal(revoke.json().key.status, 'revoked');

    const rejected = await callMe(app, first.apiKey);
    t.equal(rejected.statusCode, 401);
    t.equal(rejected.json().error.code, 'api_key_revoked');
    t.equal((await callMe(app, second.apiKey)).statusCode, 200, 'the other key is untouched');

    const list = await app.inject({ method: 'GET', url: '/v1/keys', headers: { cookie: user.cookie } });
    t.same(
      list.json().keys.map((key: { id: string; status: string }) => [key.id, key.status]),
      [
        [second.keyId, 'active'],
        [first.keyId, 'revoked'],
      ],
    );
    t.equal((await createKey(app, user.cookie)).apiKey.length > 0, true, 'revoking frees a slot');
  });
}
