import type { AddressInfo } from 'node:net';
import express from 'express';
import t from 'tap';
import { apiKeyMiddleware, openApiKeyChecker } from '../../src/express.js';
import { buildTestApp, createKey, signUp } from '../helper.js';

/* An Express service of the fleet, checking keys in-process with keyward's middleware. */

t.test('the Express middleware refuses in the error envelope and hands the caller to the handler', async (t) => {
  const keyward = await buildTestApp(t);
  const checker = await openApiKeyChecker({
    databaseUrl: keyward.runtime.env.DATABASE_URL!,
    redisUrl: keyward.runtime.env.REDIS_URL,
    redisKeyPrefix: keyward.runtime.env.REDIS_KEY_PREFIX,
    secret: keyward.runtime.serverSecret,
  });
  t.teardown(() => checker.close());
  const app = express();
  app.get('/orders', apiKeyMiddleware(checker), (request, response) => {
    response.json({ account: request.apiKey?.accountId, key: request.apiKey?.keyId });
  });
  app.get('/health', (_request, response) => response.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const missing = await fetch(`${base}/orders`, { headers: { 'x-request-id': 'trace-1' } });
  t.equal(missing.status, 401);
  t.same(await missing.json(), {
    error: {
      code: 'invalid_api_key',
      message: 'A valid API key is required in the x-api-key header.',
      requestId: 'trace-1',
    },
  });
  t.equal((await fetch(`${base}/health`)).status, 200, 'routes without the middleware need no key');

  const user = await signUp(keyward.app);
  const key = await createKey(keyward.app, user.cookie);
  const valid = await fetch(`${base}/orders`, { headers: { 'x-api-key': key.apiKey } });
  t.equal(valid.status, 200);
  t.same(await valid.json(), { account: user.accountId, key: key.keyId });

  const revoke = await keyward.app.inject({
    method: 'DELETE',
    url: `/v1/keys/${key.keyId}`,
    headers: { cookie: user.cookie },
  });
  t.equal(revoke.statusCode, 200);
  const revoked = await fetch(`${base}/orders`, { headers: { 'x-api-key': key.apiKey } });
  t.equal(revoked.status, 401, 'refused as soon as the revoke call returned');
  t.equal(((await revoked.json()) as { error: { code: string } }).error.code, 'api_key_revoked');
});
