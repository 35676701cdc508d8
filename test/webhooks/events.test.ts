import t from 'tap';
import { sql } from 'drizzle-orm';
import { buildTestApp, createKey, registerWebhook, revokeKey, rotateKey, signUp } from '../support/app.js';
import { eventually } from '../support/wait.js';
import type { Actor } from '../../src/audit/audit-log.js';
import { generateSigningSecret } from '../../src/webhooks/signing.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery, type Receiver } from '../support/webhook-receiver.js';

/*
 * Every key change reaches the account's webhook endpoints as a Standard Webhooks delivery: signed so the
 * `standardwebhooks` package verifies it as a receiver would, naming the key by id and hint, never the key.
 */

const operator = (email: string): Actor => ({ userId: null, email, clientAddress: 'local', userAgent: 'test' });

t.test('each key change delivers a correctly signed event without the key', async (t) => {
  const { app, runtime, log } = await buildTestApp(t, { env: FAST_WEBHOOKS });
  const user = await signUp(app);
  const receiver = await startReceiver(t);
  const created = await registerWebhook(app, user.cookie, receiver.url);
  t.equal(created.statusCode, 201, created.body);
  const { secret, webhook } = created.json();
  t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'the secret is whsec_ + base64 of 32 bytes');
  t.equal(webhook.url, receiver.url);

  const keys: string[] = [];
  const expectEvent = async (type: string, keyId: string, extra: Record<string, unknown> = {}) => {
    const found = () => receiver.events(type).find((candidate) => candidate.data.keyId === keyId);
    t.ok(await eventually(() => found() !== undefined, 10_000), `${type} for ${keyId} delivered`);
    const event = found()!;
    t.match(event.data, { keyId, accountId: user.accountId, keyHint: /_…[0-9A-Za-z]{4}$/, ...extra }, type);
    t.match(event.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  };

  // key.created
  const first = await createKey(app, user.cookie, 'production');
  keys.push(first.apiKey);
  await expectEvent('key.created', first.keyId, { name: 'production' });

  // key.rotated + key.expiry_scheduled
  const rotated = await rotateKey(app, user.cookie, first.keyId, { expireOldKeyInSeconds: 3600 });
  t.equal(rotated.statusCode, 201);
  const second = { keyId: rotated.json().key.id as string };
  keys.push(rotated.json().apiKey);
  await expectEvent('key.expiry_scheduled', first.keyId);
  // An expiry less than 7 days ahead is also told as key.expiring (src/webhooks/key-expiring-notices.ts).
  await expectEvent('key.expiring', first.keyId, { lead: 'soon', keyName: 'production' });
  await expectEvent('key.rotated', second.keyId, { replaces: first.keyId });

  // key.revoked by a user
  t.equal((await revokeKey(app, user.cookie, second.keyId)).statusCode, 200);
  await expectEvent('key.revoked', second.keyId, { reason: 'revoked' });

  // key.revoked at the command line (the CLI's actor)
  const third = await createKey(app, user.cookie);
  keys.push(third.apiKey);
  await runtime.keys.revokeKey({ accountId: user.accountId, actor: operator('cli:ops'), keyId: third.keyId });
  await expectEvent('key.revoked', third.keyId, { reason: 'revoked' });

  // a scheduled expiry taking effect (maintenance ends it): key.revoked, reason expired
  await runtime.database.db.execute(
    sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${first.keyId}`,
  );
  await runtime.maintenance.runOnce();
  await expectEvent('key.revoked', first.keyId, { reason: 'expired' });

  // a leak reported by secret scanning: key.revoked (reason leaked) and key.leaked, as the #14 endpoint records them
  const leaked = await createKey(app, user.cookie);
  keys.push(leaked.apiKey);
  const scanner = operator('secret-scanning:github');
  const leak = { url: 'https://github.com/acme/app/blob/main/.env', source: 'content', type: 'keyward_api_key' };
  await runtime.keys.revokeKey({ accountId: user.accountId, actor: scanner, keyId: leaked.keyId, leak });
  await expectEvent('key.revoked', leaked.keyId, { reason: 'leaked' });
  await expectEvent('key.leaked', leaked.keyId, {
    url: 'https://github.com/acme/app/blob/main/.env',
    source: 'content',
  });

  // 3 keys created besides the rotation's: 11 events in all.
  t.equal(receiver.requests.length, 11, 'one delivery per event, no duplicates');
  for (const request of receiver.requests) {
    t.doesNotThrow(() => verifyDelivery(secret, request), 'verified with the standardwebhooks package');
    t.match(request.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/);
    t.equal(request.headers['content-type'], 'application/json');
    for (const key of keys) {
      t.notOk(request.body.includes(key.split('_')[2]!), 'the body never holds the key or its secret');
    }
  }
  const sample = receiver.requests[0]!;
  t.throws(() => verifyDelivery(secret, { ...sample, body: sample.body.replace('}', ' }') }), 'a tampered body fails');
  t.throws(() => verifyDelivery(generateSigningSecret(), sample), 'another secret fails');
  t.notOk(log.text().includes(secret.slice(6)), 'the signing secret is never logged');

  const stored = await runtime.database.db.execute(sql`SELECT secret_ciphertext FROM webhook_endpoints`);
  t.notOk(JSON.stringify(stored).includes(secret.slice(6)), 'the signing secret is stored encrypted');

  // The receiver answered; the sender records the attempt just after.
  await runtime.webhookWorker.idle();
  const deliveries = await app.inject({
    method: 'GET',
    url: `/v1/webhooks/${webhook.id}/deliveries`,
    headers: { cookie: user.cookie },
  });
  t.equal(deliveries.statusCode, 200);
  t.equal(deliveries.json().deliveries.length, 11);
  for (const delivery of deliveries.json().deliveries) {
    t.equal(delivery.status, 'delivered');
    t.match(delivery.attempts, [{ statusCode: 200, error: null, retryAt: null }]);
  }
});

t.test('the outbox row is not written when the change rolls back', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: FAST_WEBHOOKS });
  const user = await signUp(app);
  const receiver: Receiver = await startReceiver(t);
  await registerWebhook(app, user.cookie, receiver.url);
  const actor: Actor = { userId: user.userId, email: user.email, clientAddress: '127.0.0.1', userAgent: null };
  // The commit guard refuses at the last moment, after the key, its audit event and the outbox rows were written.
  await t.rejects(
    runtime.keys.createKey(
      { accountId: user.accountId, actor, name: 'doomed' },
      {
        enterCommit() {
          throw new Error('the request already answered 503');
        },
      },
    ),
    /already answered/,
  );
  const count = async (table: string) =>
    Number(
      (
        (await runtime.database.db.execute(
          sql`SELECT count(*) AS n FROM ${sql.identifier(table)}`,
        )) as unknown as Array<{
          n: string;
        }>
      )[0]!.n,
    );
  t.equal(await count('webhook_deliveries'), 0, 'no delivery for a change that never happened');
  t.equal(await count('api_keys'), 0);
  // A change that commits writes one.
  await createKey(app, user.cookie);
  t.equal(await count('webhook_deliveries'), 1);
  t.ok(await receiver.waitFor(1, 'key.created'));
  t.equal(receiver.events().length, 1, 'only the committed change was delivered');
});

t.test('on the embedded default (PGlite) too', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true, env: FAST_WEBHOOKS });
  const user = await signUp(app);
  const receiver = await startReceiver(t);
  const created = await registerWebhook(app, user.cookie, receiver.url);
  const { secret } = created.json();
  const key = await createKey(app, user.cookie);
  await revokeKey(app, user.cookie, key.keyId);
  t.ok(await receiver.waitFor(1, 'key.revoked'), 'delivered');
  t.same(
    receiver.events().map((event) => [event.type, event.data.keyId, event.data.reason]),
    [
      ['key.created', key.keyId, undefined],
      ['key.revoked', key.keyId, 'revoked'],
    ],
  );
  for (const request of receiver.requests) t.doesNotThrow(() => verifyDelivery(secret, request));
});
