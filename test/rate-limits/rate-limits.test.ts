import t from 'tap';
import { buildTestApp, registerWebhook, rotateKey, signUp } from '../support/app.js';
import { FAST_WEBHOOKS, startReceiver } from '../support/webhook-receiver.js';
import type { KeywardApp } from '../../src/app/app.js';

/*
 * Rate limits and quotas (issue #26) through the real app on one instance: a key's own limit, its account's
 * (all its keys together, across a rotation), the monthly quota, the 429s' fields, and the API's rules.
 */

async function generate(app: KeywardApp, cookie: string, body: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie }, payload: body });
  if (response.statusCode !== 201) throw new Error(response.body);
  return response.json() as { apiKey: string; key: { id: string; rateLimit: unknown } };
}

async function calls(app: KeywardApp, apiKey: string, count: number) {
  const statuses: number[] = [];
  let refusal;
  for (let i = 0; i < count; i++) {
    const response = await app.inject({ method: 'GET', url: '/v1/verify', headers: { 'x-api-key': apiKey } });
    statuses.push(response.statusCode);
    if (response.statusCode === 429) refusal = response;
  }
  return {
    admitted: statuses.filter((status) => status === 204).length,
    refused: statuses.filter((s) => s === 429).length,
    refusal,
  };
}

for (const embedded of [false, true]) {
  t.test(
    `a key's own limit (${embedded ? 'single instance' : 'with Redis'}): admits exactly that many, then 429 with the RateLimit fields`,
    async (t) => {
      const { app } = await buildTestApp(t, { embedded });
      const user = await signUp(app);
      const { apiKey, key } = await generate(app, user.cookie, { rateLimit: { requests: 5, windowSeconds: 3600 } });
      t.same(key.rateLimit, { requests: 5, windowSeconds: 3600 });
      const { admitted, refused, refusal } = await calls(app, apiKey, 8);
      t.equal(admitted, 5);
      t.equal(refused, 3);
      t.equal(refusal!.json().error.code, 'rate_limited');
      t.match(refusal!.headers['retry-after'], /^\d+$/);
      t.ok(Number(refusal!.headers['retry-after']) <= 3600);
      t.equal(refusal!.headers['ratelimit-policy'], '"key";q=5;w=3600');
      t.match(refusal!.headers['ratelimit'], /^"key";r=0;t=\d+$/);

      const other = await generate(app, user.cookie);
      t.equal(
        (await calls(app, other.apiKey, 10)).admitted,
        10,
        "the account's other key is not limited by the first key's limit",
      );
    },
  );
}

t.test('the account limit counts all its keys together and holds across a rotation', async (t) => {
  const { app } = await buildTestApp(t, {
    env: { KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS: '6', KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS: '3600' },
  });
  const user = await signUp(app);
  const first = await generate(app, user.cookie);
  t.equal((await calls(app, first.apiKey, 4)).admitted, 4);
  const rotated = await rotateKey(app, user.cookie, first.key.id);
  t.equal(rotated.statusCode, 201, rotated.body);
  const { apiKey } = rotated.json();
  const after = await calls(app, apiKey, 4);
  t.equal(after.admitted, 2, 'the rotation neither reset nor doubled it');
  t.equal(after.refusal!.headers['ratelimit-policy'], '"account";q=6;w=3600');
  t.equal((await calls(app, first.apiKey, 1)).admitted, 0, 'the old key shares the same count');

  const above = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie: user.cookie },
    payload: { rateLimit: { requests: 7, windowSeconds: 3600 } },
  });
  t.equal(above.statusCode, 400);
  t.equal(above.json().error.code, 'rate_limit_above_account');
});

t.test('the monthly quota: 429 quota_exceeded until the month ends', async (t) => {
  const { app } = await buildTestApp(t, { env: { KEYWARD_ACCOUNT_MONTHLY_QUOTA: '3' } });
  const user = await signUp(app);
  const { apiKey } = await generate(app, user.cookie);
  const { admitted, refusal } = await calls(app, apiKey, 5);
  t.equal(admitted, 3);
  t.equal(refusal!.json().error.code, 'quota_exceeded');
  t.match(refusal!.headers['ratelimit-policy'], /^"monthly";q=3;w=\d+$/);
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { 'x-api-key': apiKey } });
  t.equal(me.statusCode, 429);
});

t.test('PATCH changes a key limit on the cached key at once', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const { apiKey, key } = await generate(app, user.cookie);
  t.equal((await calls(app, apiKey, 3)).admitted, 3);
  const patched = await app.inject({
    method: 'PATCH',
    url: `/v1/keys/${key.id}`,
    headers: { cookie: user.cookie },
    payload: { rateLimit: { requests: 2, windowSeconds: 3600 } },
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.equal((await calls(app, apiKey, 4)).admitted, 2);
  const removed = await app.inject({
    method: 'PATCH',
    url: `/v1/keys/${key.id}`,
    headers: { cookie: user.cookie },
    payload: { rateLimit: null },
  });
  t.equal(removed.statusCode, 200);
  t.equal((await calls(app, apiKey, 4)).admitted, 4);
});

t.test('quota.threshold: a webhook at 80 % and at 100 % of the monthly quota, once each', async (t) => {
  const { app, runtime } = await buildTestApp(t, {
    env: { ...FAST_WEBHOOKS, KEYWARD_ACCOUNT_MONTHLY_QUOTA: '100' },
  });
  const receiver = await startReceiver(t);
  const user = await signUp(app);
  const registered = await registerWebhook(app, user.cookie, receiver.url);
  t.equal(registered.statusCode, 201, registered.body);
  const { apiKey } = await generate(app, user.cookie);
  t.equal((await calls(app, apiKey, 120)).admitted, 100);
  t.ok(await receiver.waitFor(2, 'quota.threshold'), 'both thresholds told');
  await calls(app, apiKey, 5); // more refused requests tell nothing more
  await runtime.keyChecking.usage?.flush();
  const notices = receiver.events('quota.threshold');
  t.same(notices.map((notice) => notice.data.threshold).sort(), [100, 80], 'one notice at 80 % and one at 100 %');
  t.match(notices[0]!.data, { accountId: user.accountId, quota: 100 });
});
