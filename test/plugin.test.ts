import fastifyAuth from '@fastify/auth';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import type { Test } from 'tap';
import { apiKeyAuth, type KeywardConnection } from '../src/fastify.js';
import { SecretHasher } from '../src/keys/secret-hashing.js';
import { buildTestApp, callMe, createKey, signUp, type TestApp } from './helper.js';
import { withLastCharacterChanged } from './support/keys.js';

/*
 * A separate API service of the fleet (not keyward) uses the exported plugin
 * with keyward's Postgres and Redis settings. It joins the fleet: a revoke
 * through keyward waits for it too, so it refuses the key when the call returns.
 */

let keyward: TestApp;
t.before(async () => {
  keyward = await buildTestApp(t);
});

function connection(): KeywardConnection {
  const env = keyward.runtime.env;
  return {
    databaseUrl: env.DATABASE_URL!,
    redisUrl: env.REDIS_URL,
    secret: keyward.runtime.serverSecret,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
  };
}

function service(t: Test): FastifyInstance {
  const app = Fastify();
  t.teardown(() => app.close());
  return app;
}

/** ready() as tap's rejects() takes it: Fastify's instance is thenable but not a Promise. */
const ready = (app: FastifyInstance) => async () => {
  await app.ready();
};

const identity = { handler: async (request: { apiKey: unknown }) => ({ apiKey: request.apiKey }) };

async function freshKey() {
  const user = await signUp(keyward.app);
  return { user, ...(await createKey(keyward.app, user.cookie)) };
}

t.test('another Fastify service checks keys with the exported plugin and hears revocations', async (t) => {
  const app = service(t);
  await app.register(apiKeyAuth, connection());
  app.get('/orders', { config: { apiKey: true } }, async (request) => ({
    account: request.apiKey.accountId,
    orders: [],
  }));
  app.get('/public', async () => ({ ok: true }));
  await app.ready();

  const { user, apiKey, keyId } = await freshKey();
  // Every argon2 verification in this process: the service's checks (keyward itself verifies no key here).
  const verifies = t.capture(SecretHasher.prototype, 'verify', SecretHasher.prototype.verify);
  const orders = await app.inject({ url: '/orders', headers: { 'x-api-key': apiKey } });
  t.equal(orders.statusCode, 200);
  t.equal(orders.json().account, user.accountId);
  t.equal(verifies().length, 1, 'the first check is cold: one argon2 verification');
  const again = await app.inject({ url: '/orders', headers: { 'x-api-key': apiKey } });
  t.equal(again.statusCode, 200, 'accepted the second time');
  t.equal(verifies().length, 0, 'served from a cache: no argon2 the second time');

  t.equal((await app.inject({ url: '/public' })).statusCode, 200, 'routes that do not opt in need no key');
  const missing = await app.inject({ url: '/orders' });
  t.equal(missing.statusCode, 401);
  // The service keeps its own error format; keyward's errors carry stable KW_ codes.
  t.equal(missing.json().code, 'KW_INVALID_API_KEY');

  const revoke = await keyward.app.inject({
    method: 'DELETE',
    url: `/v1/keys/${keyId}`,
    headers: { cookie: user.cookie },
  });
  t.equal(revoke.statusCode, 200);
  const refused = await app.inject({ url: '/orders', headers: { 'x-api-key': apiKey } });
  t.equal(refused.statusCode, 401, 'refused as soon as the revoke call returned');
  t.equal(refused.json().code, 'KW_API_KEY_REVOKED');
  t.equal((await callMe(keyward.app, apiKey)).statusCode, 401);
});

// Regression (issue #13): the check was attached in `onRoute`, so routes declared before the plugin had
// loaded (before `register`, or after it without `await`) were served with no key at all.
t.test('every route asking for a key is checked, whatever the order of registration', async (t) => {
  const app = service(t);
  app.get('/early', { config: { apiKey: true } }, identity.handler);
  await app.register(
    async (child) => {
      child.get('/before', { config: { apiKey: true } }, identity.handler);
    },
    { prefix: '/child' },
  );
  app.register(apiKeyAuth, connection()); // not awaited: the common Fastify idiom
  app.get('/late', { config: { apiKey: true } }, identity.handler);
  app.register(
    async (child) => {
      child.get('/after', { config: { apiKey: true } }, identity.handler);
      child.register(async (grandchild) => {
        grandchild.get('/nested', { config: { apiKey: true } }, identity.handler);
      });
    },
    { prefix: '/v2' },
  );
  app.get('/open', async () => ({ ok: true }));
  await app.ready();

  const { user, apiKey, keyId } = await freshKey();
  for (const url of ['/early', '/child/before', '/late', '/v2/after', '/v2/nested']) {
    const missing = await app.inject({ url });
    t.equal(missing.statusCode, 401, `${url}: refused without a key`);
    const wrong = await app.inject({ url, headers: { 'x-api-key': withLastCharacterChanged(apiKey) } });
    t.equal(wrong.statusCode, 401, `${url}: refused with a mistyped key`);
    const valid = await app.inject({ url, headers: { 'x-api-key': apiKey } });
    t.equal(valid.statusCode, 200, `${url}: served with a valid key`);
    t.same(valid.json().apiKey, { accountId: user.accountId, keyId }, `${url}: the handler sees the caller`);
  }
  t.equal((await app.inject({ url: '/open' })).statusCode, 200, 'a route that asks for no key is open');
});

t.test('registered inside an encapsulated plugin, it refuses to start', async (t) => {
  const app = service(t);
  app.get('/outside', { config: { apiKey: true } }, identity.handler);
  app.register(async (child) => {
    await child.register(apiKeyAuth, connection());
  });
  await t.rejects(ready(app), /register apiKeyAuth on the root Fastify instance/);
});

t.test('app.verifyApiKey works with @fastify/auth and as a route hook', async (t) => {
  const app = service(t);
  app.register(fastifyAuth);
  app.register(apiKeyAuth, connection());
  app.after(() => {
    app.get('/with-auth', { onRequest: app.auth([app.verifyApiKey]) }, identity.handler);
    app.get('/with-hook', { onRequest: app.verifyApiKey }, identity.handler);
    // Both ask: the key is checked once.
    app.get('/both', { config: { apiKey: true }, onRequest: app.verifyApiKey }, identity.handler);
  });
  await app.ready();

  const { user, apiKey } = await freshKey();
  for (const url of ['/with-auth', '/with-hook', '/both']) {
    const missing = await app.inject({ url });
    t.equal(missing.statusCode, 401, `${url}: refused without a key`);
    t.equal(missing.json().code, 'KW_INVALID_API_KEY');
    const valid = await app.inject({ url, headers: { 'x-api-key': apiKey } });
    t.equal(valid.statusCode, 200, `${url}: served with a valid key`);
    t.equal(valid.json().apiKey.accountId, user.accountId);
  }
});

t.test('request.apiKey read on a route that checks no key throws instead of giving null', async (t) => {
  const app = service(t);
  await app.register(apiKeyAuth, connection());
  app.get('/no-key', identity.handler);
  await app.ready();
  const response = await app.inject({ url: '/no-key' });
  t.equal(response.statusCode, 500);
  t.match(response.json().message, /request\.apiKey read on GET \/no-key, a route that checks no key/);
});

t.test('settings are typed and checked: an unknown or server-only name stops startup', async (t) => {
  const typo = service(t);
  // @ts-expect-error KEYWARD_CACHE_MAX_KEY is a typo: TypeScript refuses it, and so does the plugin at startup.
  typo.register(apiKeyAuth, { ...connection(), settings: { KEYWARD_CACHE_MAX_KEY: 50_000 } });
  await t.rejects(ready(typo), /KEYWARD_CACHE_MAX_KEY is not a keyward setting/);

  const serverOnly = service(t);
  // @ts-expect-error PORT belongs to keyward's server.
  serverOnly.register(apiKeyAuth, { ...connection(), settings: { PORT: 8080 } });
  await t.rejects(ready(serverOnly), /PORT is a setting of keyward's server/);

  const badValue = service(t);
  badValue.register(apiKeyAuth, { ...connection(), settings: { KEYWARD_CACHE_MAX_KEYS: 0 } });
  await t.rejects(ready(badValue), /KEYWARD_CACHE_MAX_KEYS=.*0/);

  const good = service(t);
  await good.register(apiKeyAuth, {
    ...connection(),
    settings: { KEYWARD_CACHE_MAX_KEYS: 50_000, KEYWARD_USAGE_TRACKING: false },
  });
  good.get('/orders', { config: { apiKey: true } }, identity.handler);
  const { apiKey } = await freshKey();
  t.equal((await good.inject({ url: '/orders', headers: { 'x-api-key': apiKey } })).statusCode, 200);
});
