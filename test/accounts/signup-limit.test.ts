/**
 * Issue #15, class 7 (part): sign-up is no unlimited oracle. One address probing which emails are registered
 * (409 email_taken) or flooding argon2 with sign-ups gets 429 with Retry-After after
 * KEYWARD_SIGNUP_ADDRESS_LIMIT attempts, taken emails and new ones alike, across the fleet; another address
 * still signs up. Through the real server behind a trusted proxy.
 */
import t from 'tap';
import { startKeywardProcess } from '../support/server-process.js';
import { envelopeProblem, errorOf, signUpOverRequest } from '../support/http.js';

t.test('sign-ups are limited per client address, taken email or not', async (t) => {
  const server = await startKeywardProcess(t, {
    KEYWARD_SIGNUP_ADDRESS_LIMIT: '4',
    KEYWARD_TRUSTED_PROXY_HOPS: '1',
  });
  const signUp = async (email: string, address: string) => {
    const response = await signUpOverRequest(
      server.url,
      { email, accountName: 'Probe' },
      { 'x-forwarded-for': address },
    );
    return { statusCode: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
  };
  const attacker = '203.0.113.9';
  t.equal((await signUp('victim@example.com', '198.51.100.1')).statusCode, 201, 'the victim signs up elsewhere');
  const answers = [];
  for (const email of ['victim@example.com', 'a@example.com', 'VICTIM@example.com', 'b@example.com']) {
    answers.push((await signUp(email, attacker)).statusCode);
  }
  t.same(answers, [409, 201, 409, 201], 'within the limit: ordinary answers');
  for (const email of ['victim@example.com', 'c@example.com', 'victim@example.com']) {
    const limited = await signUp(email, attacker);
    t.equal(limited.statusCode, 429, `${email} past the limit: 429, whether it is taken or not`);
    t.equal(envelopeProblem(limited), undefined, 'envelope');
    t.equal(errorOf(limited).code, 'rate_limited');
    t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
  }
  const ipv6 = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3', '2001:db8:1:2::4', '2001:db8:1:2::5'];
  const fromOneNetwork = [];
  for (const [index, address] of ipv6.entries())
    fromOneNetwork.push((await signUp(`v6-${index}@example.com`, address)).statusCode);
  t.same(fromOneNetwork, [201, 201, 201, 201, 429], 'an IPv6 /64 counts as one client');
  t.equal((await signUp('d@example.com', '198.51.100.2')).statusCode, 201, 'another address still signs up');
});
