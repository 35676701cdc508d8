import postgres from 'postgres';
import t from 'tap';
import { buildTestApp, signUp } from '../support/app.js';

// Issue #28: Settings → Account lists where the user is signed in, and signs out one session at a time.
t.test('GET /v1/account/sessions and DELETE /v1/account/sessions/{sessionId}', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);
  const sql = postgres(databaseUrl!, { max: 2 });
  t.teardown(() => sql.end());

  const user = await signUp(app);
  const logIn = async (userAgent: string) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/login',
      headers: { 'user-agent': userAgent },
      payload: { email: user.email, password: user.password },
    });
    t.equal(response.statusCode, 200);
    return `keyward_session=${response.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  };
  const phone = await logIn('Phone browser/1.0');
  const laptop = await logIn('Laptop browser/2.0');
  const list = async (cookie: string) => app.inject({ url: '/v1/account/sessions', headers: { cookie } });
  const end = (cookie: string, id: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'DELETE', url: `/v1/account/sessions/${id}`, headers: { cookie, ...headers } });

  const listed = await list(laptop);
  t.equal(listed.statusCode, 200);
  t.equal(listed.headers['cache-control'], 'no-store');
  const { sessions } = listed.json() as {
    sessions: Array<{ id: string; userAgent: string | null; clientAddress: string; current: boolean }>;
  };
  t.equal(sessions.length, 3, 'sign-up and the two sign-ins');
  t.same(
    sessions.map((session) => [session.userAgent, session.current]),
    [
      [sessions[0]!.userAgent, false],
      ['Phone browser/1.0', false],
      ['Laptop browser/2.0', true],
    ],
    'oldest first; the one asking is marked current',
  );
  for (const session of sessions) {
    t.match(session, { id: /^[0-9a-f]{16}$/, createdAt: String, expiresAt: String, clientAddress: String });
  }
  const hashes = await sql`SELECT token_hash FROM sessions`;
  const body = listed.body;
  for (const { token_hash } of hashes) t.notMatch(body, token_hash, 'never a token hash');
  for (const cookie of [phone, laptop]) t.notMatch(body, cookie.split('=')[1]!, 'never a token');

  const phoneId = sessions[1]!.id;
  // Cross-site: refused like every other cookie-authenticated change.
  const forged = await end(laptop, phoneId, { origin: 'https://evil.example' });
  t.equal(forged.statusCode, 403);
  t.equal(forged.json().error.code, 'csrf_rejected');

  const bad = await end(laptop, 'not-an-id');
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { error: { code: 'invalid_request', message: /sessionId/, requestId: String } });

  const other = await signUp(app);
  const notTheirs = await end(other.cookie, phoneId);
  t.equal(notTheirs.statusCode, 404, "another user cannot end this user's session");
  t.equal(notTheirs.json().error.code, 'session_not_found');

  const ended = await end(laptop, phoneId);
  t.equal(ended.statusCode, 204);
  t.equal(ended.cookies.length, 0, 'ending another session leaves this cookie alone');
  t.equal((await list(phone)).statusCode, 401, 'the phone is signed out');
  t.equal((await list(laptop)).json().sessions.length, 2);
  t.equal((await end(laptop, phoneId)).statusCode, 404, 'twice: already gone');

  const current = await end(laptop, sessions[2]!.id);
  t.equal(current.statusCode, 204);
  t.match(current.cookies, [{ name: 'keyward_session', value: '' }], 'ending this session clears its cookie');
  t.equal((await list(laptop)).statusCode, 401);
  t.equal((await list(user.cookie)).statusCode, 200, 'the sign-up session is still signed in');

  const audit =
    await sql`SELECT details, actor_email FROM audit_events WHERE account_id = ${user.accountId} AND action = 'session.ended'`;
  t.same(
    audit.map((row) => row.details),
    [{ session: phoneId }, { session: sessions[2]!.id }],
  );
});
