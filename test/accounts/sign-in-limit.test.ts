import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { buildTestApp, signUp } from '../support/app.js';
import { sleep } from '../support/wait.js';

/**
 * Failures reach the fleet's count in Redis just after their answer, so the
 * block lands a moment later: repeat the attempt (which counts as a failure
 * too) until it is refused, within a bound.
 */
async function blockedSoon(attempt: () => Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const response = await attempt();
    if (response.statusCode === 429 || Date.now() > deadline) return response;
    await sleep(20);
  }
}

t.test('failed sign-ins are limited per email and per address, the same for unknown emails', async (t) => {
  const { app } = await buildTestApp(t, {
    env: { KEYWARD_LOGIN_FAILURE_LIMIT: '3', KEYWARD_LOGIN_ADDRESS_FAILURE_LIMIT: '5' },
  });
  const user = await signUp(app);
  const login = (email: string, password: string, remoteAddress: string) =>
    app.inject({ method: 'POST', url: '/v1/login', payload: { email, password }, remoteAddress });

  // Per email: 3 failures from different addresses lock that email, known or not.
  for (const email of [user.email, 'nobody@example.com']) {
    for (let i = 0; i < 3; i++) t.equal((await login(email, 'wrong password', `10.0.1.${i}`)).statusCode, 401);
    const blocked = await blockedSoon(() => login(email, 'wrong password', '10.0.1.99'));
    t.equal(blocked.statusCode, 429, `${email}: blocked`);
    t.equal(blocked.json().error.code, 'rate_limited');
    t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After says when');
    t.match(
      blocked.json().error.message,
      /^Too many failed sign-ins\. Try again in \d+ (seconds?|minutes?|hours?)\.$/,
      'and the message says it in words, for the dashboard (#16)',
    );
  }
  const known = await login(user.email, user.password, '10.0.1.98');
  const unknown = await login('nobody@example.com', 'anything at all', '10.0.1.98');
  t.equal(known.statusCode, 429, 'even the right password waits: the limit protects the account');
  t.same(
    { ...known.json().error, requestId: null },
    { ...unknown.json().error, requestId: null },
    'a known and an unknown email are blocked alike: nothing says which exists',
  );

  // Per address: 5 failures over different emails block the address for everyone. Each probe uses an email of
  // its own, so that it is the address, never the email, that is blocked.
  let probes = 0;
  const probe = (remoteAddress: string) => login(`probe${probes++}@example.com`, 'x', remoteAddress);
  for (let i = 0; i < 5; i++) await login(`guess${i}@example.com`, 'wrong password', '10.0.2.1');
  t.equal((await blockedSoon(() => probe('10.0.2.1'))).statusCode, 429);

  // An IPv6 client is its /64, whichever address of it each attempt comes from.
  for (let i = 0; i < 5; i++) await login(`v6guess${i}@example.com`, 'wrong password', `2001:db8:5:6::${i + 1}`);
  t.equal((await blockedSoon(() => probe('2001:db8:5:6:aaaa::1'))).statusCode, 429, 'the same /64');
  t.equal((await probe('2001:db8:5:7::1')).statusCode, 401, 'another /64');

  // Others are unaffected.
  const second = await signUp(app, 'Second');
  t.equal((await login(second.email, second.password, '10.0.3.1')).statusCode, 200);
});
