/**
 * Issue #15, class 7: sign-up as an email oracle. Without a mail sender a taken email must still be refused
 * (409), so the answers are bounded and made alike instead: a taken email costs the same argon2 hash as a
 * new one; attempts are limited per email (KEYWARD_SIGNUP_EMAIL_LIMIT) from any number of addresses, as
 * well as per address; past either limit the 429 is the same byte for byte (but its requestId) whether the
 * email is taken or not. Through the real app, each attacker address its own client.
 */
import t from 'tap';
import { buildTestApp, signUpRequest } from '../support/app.js';
import { envelopeProblem, errorOf } from '../support/http.js';

t.test('one email is probed at most KEYWARD_SIGNUP_EMAIL_LIMIT times, from any number of addresses', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { KEYWARD_SIGNUP_EMAIL_LIMIT: '3' } });
  let address = 0;
  const signUp = (email: string, from = `198.51.100.${++address}`) =>
    signUpRequest(app, { email, address: from, accountName: 'Probe' });
  const hashes = () => runtime.hasher.stats().started.account;

  t.equal((await signUp('victim@example.com')).statusCode, 201, 'the victim signs up (1 of 3)');
  let before = hashes();
  const taken = await signUp('victim@example.com');
  t.equal(taken.statusCode, 409, 'a taken email, from another address: 409 (2 of 3)');
  t.equal(errorOf(taken).code, 'email_taken');
  t.equal(hashes() - before, 1, 'a taken email costs the same one argon2 hash as a new one');
  before = hashes();
  t.equal((await signUp('fresh@example.com')).statusCode, 201);
  t.equal(hashes() - before, 1, 'as a new one does');

  t.equal((await signUp('VICTIM@example.com')).statusCode, 409, 'the same email in other case (3 of 3)');
  before = hashes();
  const distributed = [];
  for (const variant of ['victim@example.com', 'Victim@Example.com', 'victim@EXAMPLE.COM']) {
    distributed.push(await signUp(variant));
  }
  for (const response of distributed) {
    t.equal(response.statusCode, 429, 'past the limit, from yet another address: 429');
    t.equal(envelopeProblem(response), undefined, 'envelope');
    t.equal(errorOf(response).code, 'rate_limited');
    t.ok(Number(response.headers['retry-after']) > 0, 'with Retry-After');
  }
  t.equal(hashes() - before, 0, 'no argon2 past the limit');

  // A new email probed as often is answered the same way: the 429 says nothing about existence.
  for (let i = 0; i < 2; i++) t.equal((await signUp('ghost@example.com')).statusCode, i === 0 ? 201 : 409);
  t.equal((await signUp('ghost@example.com')).statusCode, 409);
  const ghost = await signUp('ghost@example.com');
  const unknownBefore = await signUp('never-seen@example.com');
  t.equal(unknownBefore.statusCode, 201, 'other emails are not affected');
  const victim = await signUp('victim@example.com');
  const strip = (body: string) => body.replace(/"requestId":"[^"]*"/, '');
  t.equal(ghost.statusCode, 429);
  t.equal(strip(ghost.body), strip(victim.body), 'the two 429s are identical but for the requestId');
  t.equal(ghost.headers['retry-after'] !== undefined, victim.headers['retry-after'] !== undefined);
});

t.test(
  'per address and per email together: neither many emails from one address nor one email from many',
  async (t) => {
    const { app } = await buildTestApp(t, {
      env: { KEYWARD_SIGNUP_ADDRESS_LIMIT: '3', KEYWARD_SIGNUP_EMAIL_LIMIT: '2' },
    });
    const signUp = (email: string, from: string) => signUpRequest(app, { email, address: from, accountName: 'Probe' });
    const sweep = [];
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com']) {
      sweep.push((await signUp(email, '203.0.113.1')).statusCode);
    }
    t.same(sweep, [201, 201, 201, 429, 429], 'one address sweeping a list of emails is cut off');
    const fromMany = [];
    for (const from of ['198.51.100.1', '198.51.100.2', '2001:db8:7::1']) {
      fromMany.push((await signUp('a@example.com', from)).statusCode);
    }
    t.same(fromMany, [409, 429, 429], 'one email probed from many addresses is cut off (a@ counted once already)');
    t.equal(
      (await signUp('d@example.com', '203.0.113.2')).statusCode,
      201,
      'an email the sweep never reached signs up',
    );
  },
);
