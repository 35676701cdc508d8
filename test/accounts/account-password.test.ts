import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, signUp } from '../support/app.js';

// Issue #16: change password (current one required, other sessions ended) and signing out other sessions.
t.test('password change and other sessions', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);
  const sql = postgres(databaseUrl!, { max: 2 });
  t.teardown(() => sql.end());

  const logIn = async (email: string, password: string) => {
    const response = await app.inject({ method: 'POST', url: '/v1/login', payload: { email, password } });
    const cookie = response.cookies.find((c) => c.name === 'keyward_session');
    return { status: response.statusCode, cookie: cookie ? `keyward_session=${cookie.value}` : '' };
  };
  const sessionStatus = async (cookie: string) =>
    (await app.inject({ url: '/v1/session', headers: { cookie } })).statusCode;
  const audit = (accountId: string, action: string) =>
    sql`SELECT details, actor_email FROM audit_events WHERE account_id = ${accountId} AND action = ${action}`;

  t.test('POST /v1/account/password', async (t) => {
    const user = await signUp(app);
    const laptop = await logIn(user.email, user.password);
    t.equal(laptop.status, 200);
    const change = (payload: object, cookie = user.cookie) =>
      app.inject({ method: 'POST', url: '/v1/account/password', headers: { cookie }, payload });

    const wrong = await change({ currentPassword: 'not the password', newPassword: 'a brand new passphrase' });
    t.equal(wrong.statusCode, 403);
    t.match(wrong.json(), { error: { code: 'wrong_password', message: /not right/, requestId: String } });

    // The sign-up rules, before the current password is even checked (no argon2, no failed sign-in).
    for (const newPassword of ['short', 'password12', user.email, 'aaaaaaaaaaaa']) {
      const weak = await change({ currentPassword: 'not the current one', newPassword });
      t.equal(weak.statusCode, 400, `weak: ${newPassword}`);
      t.match(weak.json(), { error: { code: 'weak_password', message: String, requestId: String } });
    }
    for (const [payload, message] of [
      [{ currentPassword: user.password, newPassword: 'x'.repeat(257) }, /^body\/newPassword must NOT have more/],
      [{ currentPassword: user.password }, /^body must have required property 'newPassword'$/],
      [{ currentPassword: '', newPassword: 'a brand new passphrase' }, /^body\/currentPassword must NOT have fewer/],
      [{ currentPassword: user.password, newPassword: 'a brand new passphrase', x: 1 }, /additional property 'x'/],
    ] as const) {
      const response = await change(payload);
      t.equal(response.statusCode, 400, JSON.stringify(payload).slice(0, 60));
      t.match(response.json(), { error: { code: 'invalid_request', message, requestId: String } });
    }
    t.equal(await sessionStatus(laptop.cookie), 200, 'nothing changed so far: the other session still works');
    t.equal((await logIn(user.email, user.password)).status, 200);

    const ok = await change({ currentPassword: user.password, newPassword: 'a brand new passphrase' });
    t.equal(ok.statusCode, 200);
    t.same(ok.json(), { otherSessionsEnded: 2 }, 'the laptop session and the sign-in just above');
    t.equal(await sessionStatus(user.cookie), 200, 'this session stays signed in');
    t.equal(await sessionStatus(laptop.cookie), 401, 'the other session is signed out');
    t.equal((await logIn(user.email, user.password)).status, 401, 'the old password no longer works');
    t.equal((await logIn(user.email, 'a brand new passphrase')).status, 200, 'the new one does');
    const records = await audit(user.accountId, 'password.changed');
    t.equal(records.length, 1, 'audited once (refused attempts change nothing)');
    t.same(records[0]?.details, { otherSessionsEnded: 2 });
    t.equal(records[0]?.actor_email, user.email);

    const signedOut = await app.inject({
      method: 'POST',
      url: '/v1/account/password',
      payload: { currentPassword: 'x', newPassword: 'a brand new passphrase' },
    });
    t.equal(signedOut.statusCode, 401);
    t.equal(signedOut.json().error.code, 'session_required');
  });

  t.test('DELETE /v1/sessions/others', async (t) => {
    const user = await signUp(app);
    const phone = await logIn(user.email, user.password);
    const tablet = await logIn(user.email, user.password);
    const other = await signUp(app, 'Other');
    const response = await app.inject({
      method: 'DELETE',
      url: '/v1/sessions/others',
      headers: { cookie: user.cookie },
    });
    t.equal(response.statusCode, 200);
    t.same(response.json(), { sessionsEnded: 2 });
    t.equal(await sessionStatus(user.cookie), 200, 'this session stays');
    t.equal(await sessionStatus(phone.cookie), 401);
    t.equal(await sessionStatus(tablet.cookie), 401);
    t.equal(await sessionStatus(other.cookie), 200, "another user's session is untouched");
    const [record] = await audit(user.accountId, 'session.others_ended');
    t.same(record?.details, { sessionsEnded: 2 });
    const again = await app.inject({ method: 'DELETE', url: '/v1/sessions/others', headers: { cookie: user.cookie } });
    t.same(again.json(), { sessionsEnded: 0 }, 'nothing left to end');
    const signedOut = await app.inject({ method: 'DELETE', url: '/v1/sessions/others' });
    t.equal(signedOut.statusCode, 401);
  });
});
