import t from 'tap';
import { buildTestApp, signUp } from '../support/app.js';
import type { KeywardApp } from '../../src/app/app.js';
import { setAccountPlan } from '../../src/rate-limits/account-plans.js';

/*
 * GET /v1/limits (issue #26): an account's limits and what the fleet used of them, read from the counts the
 * instances reserve from, with Redis and in single-instance mode.
 */

interface Limits {
  account: { rateLimit: { requests: number; windowSeconds: number } | null; monthlyQuota: number | null };
  window: { used: number; limit: number; windowSeconds: number; resetAt: string } | null;
  month: { used: number; quota: number; resetAt: string } | null;
  keys: Array<{ keyId: string; rateLimit: { requests: number; windowSeconds: number }; used: number; resetAt: string }>;
}

const LIMITED = {
  KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS: '100',
  KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS: '3600',
  KEYWARD_ACCOUNT_MONTHLY_QUOTA: '1000',
};

async function limits(app: KeywardApp, cookie: string): Promise<Limits> {
  const response = await app.inject({ method: 'GET', url: '/v1/limits', headers: { cookie } });
  if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
  return response.json();
}

async function generate(app: KeywardApp, cookie: string, body: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie }, payload: body });
  if (response.statusCode !== 201) throw new Error(response.body);
  return response.json() as { apiKey: string; key: { id: string } };
}

async function verify(app: KeywardApp, apiKey: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await app.inject({ method: 'GET', url: '/v1/verify', headers: { 'x-api-key': apiKey } });
    statuses.push(response.statusCode);
  }
  return statuses;
}

for (const embedded of [false, true]) {
  const mode = embedded ? 'single instance' : 'with Redis';

  t.test(`the account's limits and their use move with calls (${mode})`, async (t) => {
    const { app } = await buildTestApp(t, { embedded, env: LIMITED });
    const user = await signUp(app);
    const before = await limits(app, user.cookie);
    t.same(before.account, { rateLimit: { requests: 100, windowSeconds: 3600 }, monthlyQuota: 1000 });
    t.match(before.window, { used: 0, limit: 100, windowSeconds: 3600 });
    t.equal(Date.parse(before.window!.resetAt) % 3_600_000, 0, 'the window ends on the hour (epoch-aligned)');
    t.match(before.month, { used: 0, quota: 1000 });
    const nextMonth = new Date();
    t.equal(
      before.month!.resetAt,
      new Date(Date.UTC(nextMonth.getUTCFullYear(), nextMonth.getUTCMonth() + 1, 1)).toISOString(),
    );
    t.same(before.keys, [], 'no key has a limit of its own');

    const { apiKey } = await generate(app, user.cookie);
    t.same(await verify(app, apiKey, 3), [204, 204, 204]);
    const after = await limits(app, user.cookie);
    // Counted as reserved: at least the calls served, at most a batch more, never past the limit.
    t.ok(after.window!.used >= 3 && after.window!.used <= 100, `window used ${after.window!.used}`);
    t.ok(after.month!.used >= 3 && after.month!.used <= 1000, `month used ${after.month!.used}`);
  });

  t.test(`a key's own limit: its window, exact once used up (${mode})`, async (t) => {
    const { app } = await buildTestApp(t, { embedded });
    const user = await signUp(app);
    const limited = await generate(app, user.cookie, { rateLimit: { requests: 5, windowSeconds: 3600 } });
    await generate(app, user.cookie, { name: 'unlimited' });
    const before = await limits(app, user.cookie);
    t.same(before.account, { rateLimit: null, monthlyQuota: null }, 'no account limits by default');
    t.equal(before.window, null);
    t.equal(before.month, null);
    t.match(before.keys, [{ keyId: limited.key.id, rateLimit: { requests: 5, windowSeconds: 3600 }, used: 0 }]);
    t.equal(before.keys.length, 1, 'only the key with a limit of its own');

    const statuses = await verify(app, limited.apiKey, 7);
    t.equal(statuses.filter((status) => status === 204).length, 5);
    const [key] = (await limits(app, user.cookie)).keys;
    t.equal(key!.used, 5, 'a window used up reads exactly its limit');
    t.equal(Date.parse(key!.resetAt) % 3_600_000, 0);

    const revoked = await app.inject({
      method: 'DELETE',
      url: `/v1/keys/${limited.key.id}`,
      headers: { cookie: user.cookie },
    });
    t.equal(revoked.statusCode, 200);
    t.same((await limits(app, user.cookie)).keys, [], 'a revoked key is not listed');
  });
}

t.test("the month's use: the usage counted, when no instance reserved from the quota yet", async (t) => {
  const { app, runtime } = await buildTestApp(t);
  const user = await signUp(app);
  const { apiKey } = await generate(app, user.cookie);
  t.same(await verify(app, apiKey, 4), [204, 204, 204, 204], 'served while the account had no quota');
  await runtime.keyChecking.usage!.flush();
  await setAccountPlan(runtime.database.db, runtime.keyChecking.fleet.announcer, user.accountId, {
    rateLimit: null,
    monthlyQuota: 1000,
  });
  t.match((await limits(app, user.cookie)).month, { used: 4, quota: 1000 }, "the month's usage, from Postgres");
});

t.test('GET /v1/limits needs a session', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true });
  const response = await app.inject({ method: 'GET', url: '/v1/limits' });
  t.equal(response.statusCode, 401);
  t.equal(response.json().error.code, 'session_required');
});
