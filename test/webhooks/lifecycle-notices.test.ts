import t from 'tap';
import { sql } from 'drizzle-orm';
import {
  buildTestApp,
  createKey,
  registerWebhook,
  revokeKey,
  rotateKey,
  signUp,
  type TestApp,
} from '../support/app.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery } from '../support/webhook-receiver.js';
import { rowsOf } from '../../src/db/driver-results.js';
import { noticeOnce, recentNotices } from '../../src/webhooks/lifecycle-notices.js';

/*
 * Lifecycle notices (issue #26): told once across the fleet however many instances decide at once, and
 * `key.expiring` 7 days and 1 day before a key's expiry, or at once when the expiry is set sooner. Time is
 * driven by moving `expires_at` in the database; maintenance runs only when the test calls runOnce.
 */

const ENV = { ...FAST_WEBHOOKS, KEYWARD_MAINTENANCE_INTERVAL_SECONDS: '86400' };

interface DeliveryRow {
  endpoint_id: string;
  message_id: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** The outbox rows of one event type for the account, oldest first. */
async function outbox(runtime: TestApp['runtime'], accountId: string, type: string): Promise<DeliveryRow[]> {
  return rowsOf<DeliveryRow>(
    await runtime.database.db.execute(sql`
      SELECT endpoint_id, message_id, payload FROM webhook_deliveries
      WHERE account_id = ${accountId} AND event_type = ${type} ORDER BY created_at, message_id`),
  );
}

/** The key.expiring deliveries of one key (one endpoint), in the order they were written. */
async function expiringOf(runtime: TestApp['runtime'], accountId: string, keyId: string) {
  const rows = await outbox(runtime, accountId, 'key.expiring');
  return rows.filter((row) => row.payload.data.keyId === keyId);
}

async function createExpiringKey(app: TestApp['app'], cookie: string, expiresInSeconds: number) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie },
    payload: { name: 'expiring', expiresInSeconds },
  });
  if (response.statusCode !== 201) throw new Error(`create key failed: ${response.body}`);
  return response.json().key as { id: string; hint: string; expiresAt: string };
}

async function setExpiry(runtime: TestApp['runtime'], keyId: string, interval: string) {
  await runtime.database.db.execute(
    sql`UPDATE api_keys SET expires_at = now() + ${interval}::interval WHERE id = ${keyId}`,
  );
}

t.test('noticeOnce run 10 times at once records one notice and one delivery per endpoint', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: ENV });
  const user = await signUp(app);
  const [first, second] = [await startReceiver(t), await startReceiver(t)];
  const secrets: string[] = [];
  for (const receiver of [first, second]) {
    const created = await registerWebhook(app, user.cookie, receiver.url);
    t.equal(created.statusCode, 201, created.body);
    secrets.push(created.json().secret);
  }
  const notice = {
    kind: 'quota.threshold' as const,
    subject: user.accountId,
    period: '2026-12:80',
    accountId: user.accountId,
    data: { threshold: 80, used: 8000, quota: 10_000, month: '2026-12' },
  };

  const results = await Promise.all(Array.from({ length: 10 }, () => noticeOnce(runtime.database.db, notice)));
  t.equal(results.filter(Boolean).length, 1, 'exactly one call recorded it');
  t.equal(await noticeOnce(runtime.database.db, notice), false, 'a later call finds it recorded');

  const rows = await outbox(runtime, user.accountId, 'quota.threshold');
  t.equal(rows.length, 2, 'one delivery per endpoint');
  t.not(rows[0]!.endpoint_id, rows[1]!.endpoint_id);
  t.equal(rows[0]!.message_id, rows[1]!.message_id, 'one event: the same webhook-id for both endpoints');
  t.same(rows[0]!.payload.data, { ...notice.data, accountId: user.accountId });

  const [view, ...others] = await recentNotices(runtime.database.db, user.accountId);
  t.match(view, { kind: 'quota.threshold', subject: user.accountId, period: '2026-12:80', at: Date });
  t.same(others, [], 'one notice recorded');

  // The other period is its own notice.
  t.equal(await noticeOnce(runtime.database.db, { ...notice, period: '2026-12:100' }), true);

  // Delivered as any event: signed, the same body shape.
  for (const [index, receiver] of [first, second].entries()) {
    t.ok(await receiver.waitFor(2, 'quota.threshold'), 'both notices reached the endpoint');
    t.equal(receiver.events('quota.threshold').length, 2, 'each once');
    for (const request of receiver.requests) t.doesNotThrow(() => verifyDelivery(secrets[index]!, request));
    t.match(receiver.events('quota.threshold')[0], {
      type: 'quota.threshold',
      timestamp: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
      data: { accountId: user.accountId, threshold: 80 },
    });
  }
});

t.test('maintenance tells a key 7 days and 1 day before its expiry, once each', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: ENV });
  const user = await signUp(app);
  t.equal((await registerWebhook(app, user.cookie, (await startReceiver(t)).url)).statusCode, 201);
  const key = await createExpiringKey(app, user.cookie, 30 * 86_400);
  const lasting = await createKey(app, user.cookie, 'no expiry');
  t.same(await expiringOf(runtime, user.accountId, key.id), [], 'an expiry 30 days ahead is not told at creation');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'nor by maintenance while more than 7 days remain');

  await setExpiry(runtime, key.id, '6 days 23 hours');
  // Two instances' passes at the same moment: one of them tells it.
  const passes = await Promise.all([runtime.maintenance.runOnce(), runtime.maintenance.runOnce()]);
  t.equal(passes[0].expiringNotices + passes[1].expiringNotices, 1, 'told once by the two passes together');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'the next pass finds it told');

  await setExpiry(runtime, key.id, '23 hours');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 1, 'the 1-day notice');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'told once');

  const told = await expiringOf(runtime, user.accountId, key.id);
  t.same(
    told.map((row) => row.payload.data.lead),
    ['7d', '1d'],
  );
  const [week, day] = told.map((row) => row.payload);
  t.match(week, {
    type: 'key.expiring',
    data: { keyId: key.id, accountId: user.accountId, keyHint: key.hint, keyName: 'expiring', lead: '7d' },
  });
  t.ok(new Date(week!.data.expiresAt as string).getTime() > new Date(day!.data.expiresAt as string).getTime());
  t.same(await expiringOf(runtime, user.accountId, lasting.keyId), [], 'a key with no expiry is never told');

  // Ended keys are not told, however close their expiry.
  t.equal((await revokeKey(app, user.cookie, lasting.keyId)).statusCode, 200);
  await setExpiry(runtime, lasting.keyId, '2 days');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'a revoked key is not told');

  t.same(
    (await recentNotices(runtime.database.db, user.accountId)).map((notice) => [notice.subject, notice.period]),
    [
      [key.id, '1d'],
      [key.id, '7d'],
    ],
    'the account reads its notices newest first',
  );
});

t.test('a key set to expire within 7 days is told at once, plus a day before if a day remains', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: ENV });
  const user = await signUp(app);
  t.equal((await registerWebhook(app, user.cookie, (await startReceiver(t)).url)).statusCode, 201);

  // 2 hours: one notice, at creation, and nothing more.
  const soon = await createExpiringKey(app, user.cookie, 2 * 3600);
  const [only, ...more] = await expiringOf(runtime, user.accountId, soon.id);
  t.same(more, [], 'one notice');
  t.match(only!.payload.data, { keyId: soon.id, lead: 'soon', expiresAt: soon.expiresAt });
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'maintenance adds none');
  t.equal((await expiringOf(runtime, user.accountId, soon.id)).length, 1);
  t.equal((await revokeKey(app, user.cookie, soon.id)).statusCode, 200, 'its slot is needed below');

  // A rotation's 3-day grace period: told when scheduled, then when a day remains.
  const old = await createKey(app, user.cookie, 'production');
  const rotated = await rotateKey(app, user.cookie, old.keyId, { expireOldKeyInSeconds: 3 * 86_400 });
  t.equal(rotated.statusCode, 201, rotated.body);
  const newKeyId = rotated.json().key.id as string;
  t.same(
    (await expiringOf(runtime, user.accountId, old.keyId)).map((row) => row.payload.data.lead),
    ['soon'],
    'the old key is told as its expiry is scheduled',
  );
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0, 'no 7-day notice on top of it');
  await setExpiry(runtime, old.keyId, '20 hours');
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 1);
  t.same(
    (await expiringOf(runtime, user.accountId, old.keyId)).map((row) => row.payload.data.lead),
    ['soon', '1d'],
  );
  t.same(await expiringOf(runtime, user.accountId, newKeyId), [], 'its replacement has no expiry');
});

t.test('on the embedded database (PGlite) too: a key expiring in 2 hours is told once', async (t) => {
  const { app, runtime } = await buildTestApp(t, { embedded: true, env: ENV });
  const user = await signUp(app);
  t.equal((await registerWebhook(app, user.cookie, (await startReceiver(t)).url)).statusCode, 201);
  const key = await createExpiringKey(app, user.cookie, 2 * 3600);
  t.equal((await runtime.maintenance.runOnce()).expiringNotices, 0);
  t.same(
    (await expiringOf(runtime, user.accountId, key.id)).map((row) => row.payload.data.lead),
    ['soon'],
  );
});
