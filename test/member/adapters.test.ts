import type { AddressInfo } from 'node:net';
import fastifyAuth from '@fastify/auth';
import express from 'express';
import Fastify from 'fastify';
import t from 'tap';
import { apiKeyMiddleware, getApiKey as expressApiKey } from '../../packages/member/src/express.js';
import { apiKeyAuth, getApiKey, openApiKeyChecker, refusalEnvelope } from '../../packages/member/src/fastify.js';
import { createKey, signUp } from '../support/app.js';
import { keywardForMembers } from '../support/members.js';

/* Fastify, Express and the neutral checker refuse alike: keyward's envelope, keyward's codes. */

const keyward = await keywardForMembers(t);
const options = {
  keywardUrl: keyward.url,
  credential: keyward.credential,
  redisUrl: keyward.runtime.env.REDIS_URL!,
  logger: { warn() {}, error() {} },
};
const user = await signUp(keyward.app);
const { apiKey, keyId } = await createKey(keyward.app, user.cookie);

const fastifyApp = Fastify();
fastifyApp.get('/orders', { config: { apiKey: true } }, async (request) => request.apiKey);
void fastifyApp.register(apiKeyAuth, options); // not awaited: routes before and after are checked alike
await fastifyApp.register(fastifyAuth);
fastifyApp.get('/either', { onRequest: fastifyApp.auth([fastifyApp.verifyApiKey]) }, async (request) => ({
  apiKey: getApiKey(request) ?? null,
}));
fastifyApp.get('/public', async (request) => ({ apiKey: getApiKey(request) ?? null }));
await fastifyApp.listen({ port: 0, host: '127.0.0.1' });
t.teardown(() => fastifyApp.close());

const checker = await openApiKeyChecker(options);
t.teardown(() => checker.close());
const expressApp = express();
expressApp.get('/orders', apiKeyMiddleware(checker), (request, response) => {
  response.json(expressApiKey(request));
});
const server = expressApp.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
t.teardown(() => new Promise((resolve) => server.close(resolve)));

const fastifyUrl = `http://127.0.0.1:${(fastifyApp.server.address() as AddressInfo).port}`;
const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const call = (url: string, key?: string) =>
  fetch(url, { headers: { 'x-request-id': 'req-42', ...(key === undefined ? {} : { 'x-api-key': key }) } });

t.test('a valid key reaches the handler in both frameworks', async (t) => {
  for (const url of [`${fastifyUrl}/orders`, `${expressUrl}/orders`]) {
    const response = await call(url, apiKey);
    t.equal(response.status, 200, url);
    t.same(await response.json(), { accountId: user.accountId, keyId, scopes: null, metadata: null });
  }
});

t.test('refusals have one face: the same status, envelope and code everywhere', async (t) => {
  const neutral = await checker.check('not a key');
  for (const [name, url] of [
    ['fastify', `${fastifyUrl}/orders`],
    ['express', `${expressUrl}/orders`],
  ] as const) {
    const response = await call(url);
    t.equal(response.status, 401, name);
    const body = (await response.json()) as { error: Record<string, unknown> };
    t.match(body, { error: { code: 'invalid_api_key', message: String } }, name);
    t.same(Object.keys(body.error).sort(), ['code', 'message', 'requestId'], name);
    if (neutral instanceof Error) t.same(body.error.code, refusalEnvelope(neutral, 'x').error.code);
  }
});

t.test('getApiKey reads the caller without throwing', async (t) => {
  t.same(await (await call(`${fastifyUrl}/public`, apiKey)).json(), { apiKey: null }, 'an unchecked route has none');
  t.same(await (await call(`${fastifyUrl}/either`, apiKey)).json(), {
    apiKey: { accountId: user.accountId, keyId, scopes: null, metadata: null },
  });
  t.equal((await call(`${fastifyUrl}/either`, 'nope')).status, 401, '@fastify/auth refuses a wrong key');
});

t.test('a key over its rate limit: 429 with Retry-After and the RateLimit fields, in both frameworks', async (t) => {
  const created = await keyward.app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie: user.cookie },
    payload: { name: 'limited', rateLimit: { requests: 2, windowSeconds: 3600 } },
  });
  const limited = created.json().apiKey as string;
  // The two frameworks' checkers are two members sharing one count: 2 admitted between them, whichever.
  const refusals = new Map<string, Response>();
  let admitted = 0;
  for (let i = 0; i < 6; i++) {
    const url = i % 2 === 0 ? `${fastifyUrl}/orders` : `${expressUrl}/orders`;
    const response = await call(url, limited);
    if (response.status === 200) admitted++;
    else refusals.set(url, response);
  }
  t.equal(admitted, 2, 'the limit, between the two');
  for (const [url, response] of refusals) {
    t.equal(response.status, 429, url);
    t.match(response.headers.get('retry-after'), /^\d+$/, url);
    t.equal(response.headers.get('ratelimit-policy'), '"key";q=2;w=3600', url);
    t.match(response.headers.get('ratelimit'), /^"key";r=0;t=\d+$/, url);
    t.match(await response.json(), { error: { code: 'rate_limited' } }, url);
  }
  t.equal(refusals.size, 2, 'both frameworks refused');
});
