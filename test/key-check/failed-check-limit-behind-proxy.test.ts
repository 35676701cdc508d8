import t, { type Test } from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { startKeywardProcess } from '../support/server-process.js';
import { signUpOver } from '../support/http.js';
import { eventually, sleep } from '../support/wait.js';

/*
 * Issue 12, end to end on a real keyward process with the real (default)
 * failed-check limiter: 100 guesses per client per minute, fleet-wide in
 * Redis. keyward sits behind one trusted proxy hop, so each request names its
 * client in X-Forwarded-For, as a load balancer would.
 *
 * Regression: a straggler still sending the revoked key at ~25/s from the
 * address that also sends the new key took the new key down after ~100
 * requests (54 of 97 valid requests answered 429).
 */

const NAT = '198.51.100.20';
const FLUSH_MS = 500;

interface Answer {
  status: number;
  code: string | undefined;
}

async function call(url: string, apiKey: string, client: string, userAgent = 'orders-service/3.1'): Promise<Answer> {
  const response = await fetch(`${url}/v1/me`, {
    headers: { 'x-api-key': apiKey, 'x-forwarded-for': client, 'user-agent': userAgent },
  });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code };
}

/**
 * Calls every `intervalMs` (or as fast as answers come, on a slow machine) until `stop()` or `count` calls;
 * returns every answer.
 */
function callEvery(intervalMs: number, send: () => Promise<Answer>, count = Infinity) {
  const answers: Answer[] = [];
  let running = true;
  const done = (async () => {
    while (running && answers.length < count) {
      const started = Date.now();
      answers.push(await send());
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  })();
  return {
    answers,
    /** Settles after `count` calls. */
    done,
    async stop() {
      running = false;
      await done;
      return answers;
    },
  };
}

const statuses = (answers: Answer[]) =>
  answers.reduce<Record<string, number>>((count, { status, code }) => {
    const label = `${status} ${code ?? ''}`.trim();
    count[label] = (count[label] ?? 0) + 1;
    return count;
  }, {});

async function dashboardSession(t: Test, url: string) {
  const signedUp = await signUpOver(url, 'ops@example.com');
  t.equal(signedUp.status, 201, 'signed up');
  const { cookie } = signedUp;
  const request = async <T = Record<string, never>>(method: string, path: string, body?: object) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body && JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  return request;
}

t.test('a straggler and a flood from one address never take its valid key down', async (t) => {
  const server = await startKeywardProcess(t, {
    KEYWARD_TRUSTED_PROXY_HOPS: '1',
    KEYWARD_USAGE_FLUSH_MS: String(FLUSH_MS),
  });
  const dashboard = await dashboardSession(t, server.url);
  type NewKey = { apiKey: string; key: { id: string } };
  const old = await dashboard<NewKey>('POST', '/v1/keys', { name: 'production' });
  const rotated = await dashboard<NewKey>('POST', `/v1/keys/${old.body.key.id}/rotate`, {});
  t.equal(rotated.status, 201, 'rotated: two keys');
  const oldKey = { id: old.body.key.id, secret: old.body.apiKey };
  const newKey = rotated.body.apiKey;

  // Both keys in use from the NAT's address; then the old one is revoked.
  t.equal((await call(server.url, oldKey.secret, NAT, 'billing-cron/1.0')).status, 200);
  t.equal((await call(server.url, newKey, NAT)).status, 200);
  t.equal((await dashboard('DELETE', `/v1/keys/${oldKey.id}`)).status, 200, 'old key revoked');

  // About 10 s: the forgotten service sends the revoked key 250 times, ~25/s, while the rolled-out services
  // send the new key ~10/s. Counts, not a duration, so that a slow machine sends as many.
  const valid = callEvery(100, () => call(server.url, newKey, NAT));
  const straggler = callEvery(40, () => call(server.url, oldKey.secret, NAT, 'billing-cron/1.0'), 250);
  await straggler.done;
  const stragglerAnswers = straggler.answers;
  const validAnswers = await valid.stop();
  t.comment(
    `valid: ${JSON.stringify(statuses(validAnswers))}, straggler: ${JSON.stringify(statuses(stragglerAnswers))}`,
  );
  t.same(statuses(stragglerAnswers), { '401 api_key_revoked': 250 }, 'each of 250 revoked-key calls refused as such');
  t.same(statuses(validAnswers), { '200': validAnswers.length }, 'every valid request meanwhile served');

  // The owner sees who still calls with the revoked key, within a flush interval or so.
  type Usage = { rejected: { requestsLast24h: number; callers: { clientAddress: string; userAgent: string }[] } };
  let usage: Usage | undefined;
  const counted = await eventually(async () => {
    usage = (await dashboard<Usage>('GET', `/v1/keys/${oldKey.id}/usage?minutes=60&hours=1`)).body;
    return usage.rejected.requestsLast24h === stragglerAnswers.length;
  }, 20 * FLUSH_MS);
  t.ok(counted, `the revoked key's ${stragglerAnswers.length} rejected calls are in its usage`);
  t.same(
    usage!.rejected.callers.map((caller) => [caller.clientAddress, caller.userAgent]),
    [[NAT, 'billing-cron/1.0']],
    'with the caller that sent them',
  );

  // 300 guesses from the same address (unknown ids, wrong secrets for a real id) while the new key is in use.
  const during = callEvery(50, () => call(server.url, newKey, NAT));
  const guesses: Answer[] = [];
  for (let n = 0; n < 300; n += 10) {
    const batch = Array.from({ length: 10 }, (_, i) =>
      call(server.url, (n + i) % 2 === 0 ? generateKey('kw').key : generateKey('kw', oldKey.id).key, NAT),
    );
    guesses.push(...(await Promise.all(batch)));
  }
  const duringAnswers = await during.stop();
  t.comment(
    `guesses: ${JSON.stringify(statuses(guesses))}, valid meanwhile: ${JSON.stringify(statuses(duringAnswers))}`,
  );
  const limited = guesses.filter((answer) => answer.status === 429).length;
  t.ok(limited >= 150, `the guesses are limited: ${limited} of 300 answered 429`);
  t.same(
    guesses.filter((answer) => answer.status !== 429 && answer.code !== 'invalid_api_key'),
    [],
    'the rest are 401 invalid_api_key',
  );
  t.same(statuses(duringAnswers), { '200': duringAnswers.length }, 'the valid key from that address: never refused');
  t.equal((await call(server.url, oldKey.secret, NAT)).code, 'api_key_revoked', 'the revoked key: still 401');
  t.equal((await call(server.url, generateKey('kw').key, '192.0.2.99')).status, 401, 'another client: 401, not 429');
});

t.test('guesses from one IPv6 /64 behind a trusted proxy are limited as one client', async (t) => {
  const server = await startKeywardProcess(t, { KEYWARD_TRUSTED_PROXY_HOPS: '1' });
  const answers: Answer[] = [];
  for (let n = 0; n < 150; n += 10) {
    const batch = Array.from({ length: 10 }, (_, i) =>
      call(server.url, generateKey('kw').key, `2001:db8:42:7:${(n + i).toString(16)}:1:2:3`),
    );
    answers.push(...(await Promise.all(batch)));
  }
  t.comment(JSON.stringify(statuses(answers)));
  t.ok(answers.filter((answer) => answer.status === 429).length >= 25, '150 addresses of one /64: limited past 100');
  t.equal((await call(server.url, generateKey('kw').key, '2001:db8:42:7::ffff')).status, 429, 'yet another one');
  t.equal((await call(server.url, generateKey('kw').key, '2001:db8:42:8::1')).status, 401, 'the next /64: 401');
});
