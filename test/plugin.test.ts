import Fastify from 'fastify';
import t from 'tap';
import { apiKeyAuth } from '../src/index.js';
import { buildTestApp, callMe, createKey, signUp } from './helper.js';

/*
 * A separate API service of the fleet (not keyward) uses the exported plugin
 * with keyward's Postgres and Redis settings. It joins the fleet: a revoke
 * through keyward waits for it too, so it refuses the key when the call returns.
 */
t.test('another Fastify service checks keys with the exported plugin and hears revocations', async (t) => {
  const keyward = await buildTestApp(t);
  const env = keyward.runtime.env;
  const service = Fastify();
  await service.register(apiKeyAuth, {
    databaseUrl: env.DATABASE_URL!,
    redisUrl: env.REDIS_URL,
    secret: keyward.runtime.serverSecret,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
  });
  service.get('/orders', { config: { apiKey: true } }, async (request) => ({
    account: request.apiKey.accountId,
    orders: [],
  }));
  service.get('/public', async () => ({ ok: true }));
  t.teardown(() => service.close());
  await service.ready();

  const user = await signUp(keyward.app);
  const key = await createKey(keyward.app, user.cookie);

  const orders = await service.inject({ url: '/orders', headers: { 'x-api-key': key.apiKey } });
  t.equal(orders.statusCode, 200);
  t.equal(orders.json().account, user.accountId);
  const again = await service.inject({ url: '/orders', headers: { 'x-api-key': key.apiKey } });
  t.equal(again.statusCode, 200, 'served from its cache the second time');

  t.equal((await service.inject({ url: '/public' })).statusCode, 200, 'routes that do not opt in need no key');
  const missing = await service.inject({ url: '/orders' });
  t.equal(missing.statusCode, 401);
  // The service keeps its own error format; keyward's errors carry stable KW_ codes.
  t.equal(missing.json().code, 'KW_INVALID_API_KEY');

  const revoke = await keyward.app.inject({
    method: 'DELETE',
    url: `/v1/keys/${key.keyId}`,
    headers: { cookie: user.cookie },
  });
  t.equal(revoke.statusCode, 200);
  const refused = await service.inject({ url: '/orders', headers: { 'x-api-key': key.apiKey } });
  t.equal(refused.statusCode, 401, 'refused as soon as the revoke call returned');
  t.equal((await callMe(keyward.app, key.apiKey)).statusCode, 401);
});
