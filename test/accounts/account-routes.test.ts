import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, signUp, signUpRequest } from '../support/app.js';

t.test('account and session routes', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);

  t.test('sign-up sets an HttpOnly, SameSite=Strict session cookie', async (t) => {
    const response = await signUpRequest(app, { email: 'Ada@Example.com', accountName: 'Analytical' });
    t.equal(response.statusCode, 201);
    t.equal(response.json().user.email, 'ada@example.com', 'emails are case-insensitive');
    const cookie = response.cookies.find((c) => c.name === 'keyward_session');
    t.ok(cookie);
    t.equal(cookie!.httpOnly, true);
    t.equal(cookie!.sameSite, 'Strict');
    // Secure and __Host-: test/accounts/session-cookie.test.ts, through the real server.

    const again = await signUpRequest(app, {
      email: 'ADA@example.com',
      password: 'another password',
      accountName: 'Copy',
    });
    t.equal(again.statusCode, 409);
    t.equal(again.json().error.code, 'email_taken');
  });

  t.test('sign-up input is validated with 400 in the error envelope', async (t) => {
    const bad = [
      {},
      { email: 'not-an-email', password: 'correct horse battery', accountName: 'A' },
      { email: 'a@example.com', password: 'correct horse battery', accountName: '   ' },
      { email: 'a@example.com', password: 'correct horse battery', accountName: 'A', admin: true },
      { email: 'a@example.com', password: 'x'.repeat(300), accountName: 'A' },
    ];
    for (const payload of bad) {
      const response = await app.inject({ method: 'POST', url: '/v1/signup', payload });
      t.equal(response.statusCode, 400, JSON.stringify(payload).slice(0, 60));
      t.equal(response.json().error.code, 'invalid_request');
      t.type(response.json().error.requestId, 'string');
    }
    // Too short is a weak password, said as such (test/accounts/weak-passwords.test.ts has the rest).
    const short = await signUpRequest(app, { email: 'a@example.com', password: 'short', accountName: 'A' });
    t.equal(short.statusCode, 400);
    t.equal(short.json().error.code, 'weak_password');
  });

  t.test('login: wrong password and unknown email give the same answer', async (t) => {
    const user = await signUp(app);
    const wrongPassword = await app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: user.email, password: 'wrong password!' },
    });
    const unknownEmail = await app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: 'nobody@example.com', password: 'wrong password!' },
    });
    t.equal(wrongPassword.statusCode, 401);
    t.equal(unknownEmail.statusCode, 401);
    t.same(
      { ...wrongPassword.json().error, requestId: null },
      { ...unknownEmail.json().error, requestId: null },
      'identical bodies',
    );

    const ok = await app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: user.email.toUpperCase(), password: user.password },
    });
    t.equal(ok.statusCode, 200);
    t.equal(ok.json().account.id, user.accountId);
  });

  t.test('session and logout', async (t) => {
    const user = await signUp(app);
    const session = await app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: user.cookie } });
    t.equal(session.statusCode, 200);
    t.equal(session.json().user.email, user.email);

    const logout = await app.inject({ method: 'POST', url: '/v1/logout', headers: { cookie: user.cookie } });
    t.equal(logout.statusCode, 204);
    const after = await app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: user.cookie } });
    t.equal(after.statusCode, 401);
    t.equal(after.json().error.code, 'session_required');

    const forged = await app.inject({ method: 'GET', url: '/v1/keys', headers: { cookie: 'keyward_session=forged' } });
    t.equal(forged.statusCode, 401);
    const none = await app.inject({ method: 'GET', url: '/v1/keys' });
    t.equal(none.statusCode, 401);
  });

  t.test('CSRF: a state change from another origin is refused, same origin allowed', async (t) => {
    const user = await signUp(app);
    const crossSite = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of crossSite) {
      const create = await app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { cookie: user.cookie, ...headers },
        payload: {},
      });
      t.equal(create.statusCode, 403, JSON.stringify(headers));
      t.equal(create.json().error.code, 'csrf_rejected');
      const login = await app.inject({
        method: 'POST',
        url: '/v1/login',
        headers,
        payload: { email: user.email, password: user.password },
      });
      t.equal(login.statusCode, 403, 'login CSRF too');
    }
    const list = await app.inject({ method: 'GET', url: '/v1/keys', headers: { cookie: user.cookie } });
    t.same(list.json().keys, [], 'nothing was created');

    const sameOrigin = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: {
        cookie: user.cookie,
        origin: 'http://localhost:80',
        host: 'localhost:80',
        'sec-fetch-site': 'same-origin',
      },
      payload: {},
    });
    t.equal(sameOrigin.statusCode, 201);
  });

  t.test('an expired session is refused', async (t) => {
    const user = await signUp(app);
    t.equal((await app.inject({ url: '/v1/session', headers: { cookie: user.cookie } })).statusCode, 200);
    const sql = postgres(databaseUrl!, { max: 1 });
    t.teardown(() => sql.end());
    await sql`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = ${user.userId}`;
    t.equal((await app.inject({ url: '/v1/session', headers: { cookie: user.cookie } })).statusCode, 401);
  });
});

t.test('account and key responses are never cached', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true });
  const user = await signUp(app);
  const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload: {} });
  t.equal(created.headers['cache-control'], 'no-store', 'the one response holding a full key');
  t.equal(created.headers['x-content-type-options'], 'nosniff');
  const refused = await app.inject({ url: '/v1/keys' });
  t.equal(refused.headers['cache-control'], 'no-store', 'errors too');
});
