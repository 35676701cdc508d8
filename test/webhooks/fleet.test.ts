import { sql } from 'drizzle-orm';
import t from 'tap';
import { registerWebhook, revokeKey, signUpRequest } from '../support/app.js';
import { createFleetServices, startFleetInstance } from '../support/fleet.js';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually } from '../support/wait.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery } from '../support/webhook-receiver.js';

/*
 * Two instances on one database each run a delivery worker: every event is delivered once in the normal
 * case (claims with FOR UPDATE SKIP LOCKED and a lease). And the real server process delivers, signed.
 */

t.test('two instances deliver each event once', async (t) => {
  const fleet = await createFleetServices(t);
  const a = await startFleetInstance(t, fleet, FAST_WEBHOOKS);
  const b = await startFleetInstance(t, fleet, FAST_WEBHOOKS);
  const receiver = await startReceiver(t);
  const signup = await signUpRequest(a.app, { email: 'fleet@example.com', accountName: 'Fleet' });
  const cookie = `keyward_session=${signup.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  const registered = await registerWebhook(a.app, cookie, receiver.url);
  const { secret } = registered.json();
  // 20 events, half through each instance: create a key, revoke it.
  for (let i = 0; i < 10; i++) {
    const app = i % 2 === 0 ? a.app : b.app;
    const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie }, payload: {} });
    await revokeKey(app, cookie, created.json().key.id);
  }
  const undelivered = async () =>
    Number(
      (
        (await a.runtime.database.db.execute(
          sql`SELECT count(*) AS n FROM webhook_deliveries WHERE status <> 'delivered'`,
        )) as unknown as Array<{ n: string }>
      )[0]!.n,
    );
  t.ok(await eventually(async () => (await undelivered()) === 0, 20_000), 'all delivered');
  await Promise.all([a.runtime.webhookWorker.idle(), b.runtime.webhookWorker.idle()]);
  const ids = receiver.requests.map((request) => request.headers['webhook-id']);
  t.equal(ids.length, 20, 'twenty requests for twenty events');
  t.equal(new Set(ids).size, 20, 'no event sent twice');
  const attempts = (await a.runtime.database.db.execute(
    sql`SELECT count(*) AS n FROM webhook_attempts`,
  )) as unknown as Array<{ n: string }>;
  t.equal(Number(attempts[0]!.n), 20, 'one attempt each');
  for (const request of receiver.requests) t.doesNotThrow(() => verifyDelivery(secret, request));
});

t.test('the real server process delivers signed events, and stops its worker on shutdown', async (t) => {
  const server = await startKeywardProcess(t, FAST_WEBHOOKS);
  const receiver = await startReceiver(t);
  const signup = await fetch(`${server.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'process@example.com', password: 'correct horse battery', accountName: 'Process' }),
  });
  const cookie = signup.headers.getSetCookie()[0]!.split(';')[0]!;
  const post = (path: string, body: unknown) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify(body),
    });
  const registered = await post('/v1/webhooks', { url: receiver.url });
  t.equal(registered.status, 201);
  const { secret } = (await registered.json()) as { secret: string };
  const created = await post('/v1/keys', { name: 'production' });
  const { apiKey } = (await created.json()) as { apiKey: string };
  t.ok(await receiver.waitFor(1, 'key.created'), 'delivered by the server process');
  t.doesNotThrow(() => verifyDelivery(secret, receiver.requests[0]!));
  t.notOk(receiver.requests[0]!.body.includes(apiKey.split('_')[2]!), 'no key in the body');
  t.notOk(server.output().includes(secret.slice(6)), 'the secret is not in the log');
  t.equal(await server.stop('SIGTERM'), 0, 'a graceful shutdown with the worker running');
});
