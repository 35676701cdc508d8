import { sql } from 'drizzle-orm';
import t from 'tap';
import { buildTestApp, createKey, registerWebhook, revokeKey, signUp, type TestApp } from '../support/app.js';
import { eventually } from '../support/wait.js';
import { retryDelayMs } from '../../src/webhooks/delivery-worker.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery } from '../support/webhook-receiver.js';

/*
 * Delivery: at least once, retried with growing delays while the receiver is down, every attempt visible
 * through the API; a slow receiver holds only its own deliveries; deleting an endpoint stops its pending ones.
 */

async function registerEndpoint(app: TestApp['app'], cookie: string, url: string) {
  const response = await registerWebhook(app, cookie, url);
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.body}`);
  return response.json() as { secret: string; webhook: { id: string } };
}

interface AttemptJson {
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  retryAt: string | null;
}
interface DeliveryJson {
  id: string;
  messageId: string;
  status: string;
  attempts: AttemptJson[];
}

async function deliveries(app: TestApp['app'], cookie: string, webhookId: string): Promise<DeliveryJson[]> {
  const response = await app.inject({
    method: 'GET',
    url: `/v1/webhooks/${webhookId}/deliveries`,
    headers: { cookie },
  });
  return response.json().deliveries;
}

t.test('a receiver that is down gets retries with growing delays, visible through the API', async (t) => {
  const { app } = await buildTestApp(t, { env: FAST_WEBHOOKS });
  const user = await signUp(app);
  const receiver = await startReceiver(t, 503);
  const { secret, webhook } = await registerEndpoint(app, user.cookie, receiver.url);
  await createKey(app, user.cookie);

  // Wait on the recorded attempts, not on the receiver: an attempt is written after its answer arrives.
  t.ok(
    await eventually(
      async () => ((await deliveries(app, user.cookie, webhook.id))[0]?.attempts.length ?? 0) >= 4,
      15_000,
    ),
    'retried',
  );
  const [pending] = await deliveries(app, user.cookie, webhook.id);
  t.equal(pending!.status, 'pending');
  t.ok(receiver.requests.length >= 4, 'each recorded attempt reached the receiver');
  const failed = pending!.attempts.filter((attempt) => attempt.retryAt !== null);
  for (const attempt of failed) t.equal(attempt.statusCode, 503);
  const waits = failed.map((attempt) => Date.parse(attempt.retryAt!) - Date.parse(attempt.attemptedAt));
  for (let i = 1; i < waits.length; i++) {
    t.ok(waits[i]! > waits[i - 1]!, `wait ${i + 1} (${waits[i]} ms) is longer than wait ${i} (${waits[i - 1]} ms)`);
  }
  const sent = receiver.requests.map((request) => request.headers['webhook-id']);
  t.equal(new Set(sent).size, 1, 'every retry carries the same webhook-id');
  for (const request of receiver.requests) t.doesNotThrow(() => verifyDelivery(secret, request));

  receiver.answer = 200; // back up
  t.ok(
    await eventually(async () => (await deliveries(app, user.cookie, webhook.id))[0]!.status === 'delivered', 15_000),
    'delivered once the receiver answers',
  );
  const [delivered] = await deliveries(app, user.cookie, webhook.id);
  t.match(delivered!.attempts.at(-1), { statusCode: 200, retryAt: null });
});

t.test('a delivery no attempt gets through for the maximum age is marked failed', async (t) => {
  const { app } = await buildTestApp(t, { env: { ...FAST_WEBHOOKS, KEYWARD_WEBHOOK_MAX_AGE_SECONDS: '1' } });
  const user = await signUp(app);
  // A port nothing listens on: connection refused.
  const closed = await startReceiver(t);
  const { webhook } = await registerEndpoint(app, user.cookie, closed.url.replace(/:\d+\//, ':1/'));
  await createKey(app, user.cookie);
  t.ok(
    await eventually(async () => (await deliveries(app, user.cookie, webhook.id))[0]?.status === 'failed', 15_000),
    'failed after the maximum age',
  );
  const [failed] = await deliveries(app, user.cookie, webhook.id);
  t.ok(failed!.attempts.length >= 1);
  t.match(failed!.attempts[0], { statusCode: null, error: /ECONNREFUSED/ });
  t.equal(failed!.attempts.at(-1)!.retryAt, null, 'no retry after the last attempt');
});

t.test('the backoff grows, with jitter, up to its cap', async (t) => {
  const settings = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };
  for (let attempts = 1; attempts <= 10; attempts++) {
    const full = Math.min(60_000, 1000 * 2 ** (attempts - 1));
    for (let sample = 0; sample < 50; sample++) {
      const delay = retryDelayMs(attempts, settings);
      t.ok(delay > full / 2 && delay <= full, `attempt ${attempts}: ${delay} in (${full / 2}, ${full}]`);
    }
  }
  t.end();
});

t.test('a slow receiver does not delay another endpoint', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { ...FAST_WEBHOOKS, KEYWARD_WEBHOOK_TIMEOUT_MS: '30000' } });
  const user = await signUp(app);
  const slow = await startReceiver(t, 'hang');
  const fast = await startReceiver(t);
  await registerEndpoint(app, user.cookie, slow.url);
  await registerEndpoint(app, user.cookie, fast.url);
  const first = await createKey(app, user.cookie);
  t.ok(await fast.waitFor(1, 'key.created'), 'the fast endpoint got the event');
  t.ok(await slow.waitFor(1, 'key.created'), 'the slow endpoint got it too, and has not answered');
  await revokeKey(app, user.cookie, first.keyId);
  t.ok(await fast.waitFor(1, 'key.revoked'), 'the next event reached the fast endpoint while the slow one still hangs');
  t.equal(slow.requests.length, 1, 'the slow endpoint has one delivery in flight, its next waits for it');
  slow.answer = 200;
  slow.release();
  t.ok(await slow.waitFor(1, 'key.revoked'), 'once it answers, the slow endpoint gets the next one');
  await runtime.webhookWorker.idle();
});

t.test('a receiver that never answers is cut off by the timeout and retried', async (t) => {
  const { app } = await buildTestApp(t, { env: { ...FAST_WEBHOOKS, KEYWARD_WEBHOOK_TIMEOUT_MS: '300' } });
  const user = await signUp(app);
  const slow = await startReceiver(t, 'hang');
  const { webhook } = await registerEndpoint(app, user.cookie, slow.url);
  await createKey(app, user.cookie);
  t.ok(
    await eventually(
      async () => ((await deliveries(app, user.cookie, webhook.id))[0]?.attempts.length ?? 0) >= 2,
      15_000,
    ),
  );
  const [delivery] = await deliveries(app, user.cookie, webhook.id);
  t.match(delivery!.attempts[0], { statusCode: null, error: /timeout: no answer within 300 ms/ });
});

t.test(
  'managing endpoints: limit, list, delete (stopping pending deliveries), CSRF, other accounts, audit',
  async (t) => {
    const { app, runtime } = await buildTestApp(t, {
      env: { ...FAST_WEBHOOKS, KEYWARD_WEBHOOK_MAX_ENDPOINTS: '2', KEYWARD_WEBHOOK_BACKOFF_BASE_MS: '60000' },
    });
    const user = await signUp(app);
    const other = await signUp(app);
    const down = await startReceiver(t, 503);
    const { webhook } = await registerEndpoint(app, user.cookie, down.url);
    await registerEndpoint(app, user.cookie, `${down.url}/second`);
    const third = await registerWebhook(app, user.cookie, `${down.url}/third`);
    t.equal(third.statusCode, 409);
    t.equal(third.json().error.code, 'webhook_limit_reached');

    const list = await app.inject({ method: 'GET', url: '/v1/webhooks', headers: { cookie: user.cookie } });
    t.equal(list.json().webhooks.length, 2);
    t.equal(list.json().maxWebhooks, 2);
    t.notOk(list.body.includes('whsec_'), 'the secret is never shown again');
    t.equal(list.headers['cache-control'], 'no-store');

    const crossSite = await app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { cookie: user.cookie, origin: 'https://evil.example' },
      payload: { url: down.url },
    });
    t.equal(crossSite.statusCode, 403);
    t.equal(crossSite.json().error.code, 'csrf_rejected');
    t.equal((await app.inject({ method: 'GET', url: '/v1/webhooks' })).statusCode, 401);
    for (const [method, url] of [
      ['DELETE', `/v1/webhooks/${webhook.id}`],
      ['GET', `/v1/webhooks/${webhook.id}/deliveries`],
    ] as const) {
      const response = await app.inject({ method, url, headers: { cookie: other.cookie } });
      t.equal(response.statusCode, 404, `${method} another account's endpoint`);
      t.equal(response.json().error.code, 'webhook_not_found');
    }
    t.equal(
      (await app.inject({ method: 'DELETE', url: '/v1/webhooks/not-a-uuid', headers: { cookie: user.cookie } }))
        .statusCode,
      400,
    );

    // A pending delivery (the receiver is down, the next retry a minute away), then the endpoint is deleted.
    await createKey(app, user.cookie);
    t.ok(await down.waitFor(2, 'key.created'), 'first attempts made');
    const pendingCount = async () =>
      Number(
        (
          (await runtime.database.db.execute(
            sql`SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'`,
          )) as unknown as Array<{ n: string }>
        )[0]!.n,
      );
    t.equal(await pendingCount(), 2);
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/v1/webhooks/${webhook.id}`,
      headers: { cookie: user.cookie },
    });
    t.equal(deleted.statusCode, 204);
    t.equal(await pendingCount(), 1, "the deleted endpoint's pending delivery is gone: it is never sent");
    const again = await app.inject({
      method: 'DELETE',
      url: `/v1/webhooks/${webhook.id}`,
      headers: { cookie: user.cookie },
    });
    t.equal(again.statusCode, 404);

    const audit = await app.inject({ method: 'GET', url: '/v1/audit', headers: { cookie: user.cookie } });
    const actions = audit.json().events.map((event: { action: string }) => event.action);
    t.ok(actions.includes('webhook.created') && actions.includes('webhook.deleted'), 'audited');
  },
);
