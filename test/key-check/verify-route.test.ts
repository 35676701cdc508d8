import t from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, createKey, revokeKey, signUp } from '../support/app.js';

/*
 * /v1/verify is forward auth for proxies (nginx auth_request, Traefik
 * ForwardAuth, Envoy ext_authz): the proxy only looks at the status and, on
 * success, copies the identity headers upstream. So a failure must never
 * carry those headers, and a success carries no body.
 */

const IDENTITY_HEADERS = ['x-keyward-account-id', 'x-keyward-key-id'];

t.test('a valid key answers 204 with the identity headers, on every method and sub-path', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const { apiKey, keyId } = await createKey(app, user.cookie);

  const requests = [
    ['GET', '/v1/verify'],
    ['HEAD', '/v1/verify'],
    ['POST', '/v1/verify'],
    ['PUT', '/v1/verify'],
    ['DELETE', '/v1/verify'],
    ['GET', '/v1/verify/some/path'], // Envoy ext_authz appends the original path
    ['HEAD', '/v1/verify/some/path'],
    ['POST', '/v1/verify/some/path?with=query'],
  ] as const;
  for (const [method, url] of requests) {
    const label = `${method} ${url}`;
    const response = await app.inject({ method, url, headers: { 'x-api-key': apiKey } });
    t.equal(response.statusCode, 204, label);
    t.equal(response.headers['x-keyward-account-id'], user.accountId, label);
    t.equal(response.headers['x-keyward-key-id'], keyId, label);
    t.equal(response.body, '', `${label}: no body`);
    t.notOk(response.headers['content-type'], `${label}: no content type either`);
    t.ok(response.headers['x-request-id'], label);
  }

  // A proxy forwarding the original request's body must not turn a valid key into an error.
  const withBody = await app.inject({
    method: 'POST',
    url: '/v1/verify/orders',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    payload: { anything: 'the client sent' },
  });
  t.equal(withBody.statusCode, 204, 'POST with a JSON body');
});

t.test('bad keys answer 401 in the error envelope, without identity headers', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const good = await createKey(app, user.cookie);
  const revoked = await createKey(app, user.cookie);
  await revokeKey(app, user.cookie, revoked.keyId);

  const cases: Array<[string, string | undefined, string]> = [
    ['missing', undefined, 'invalid_api_key'],
    ['malformed', 'not-a-key', 'invalid_api_key'],
    ['unknown id', generateKey('kw').key, 'invalid_api_key'],
    ['wrong secret', generateKey('kw', good.keyId).key, 'invalid_api_key'],
    ['revoked', revoked.apiKey, 'api_key_revoked'],
  ];
  for (const [label, apiKey, code] of cases) {
    for (const [method, url] of [
      ['GET', '/v1/verify'],
      ['POST', '/v1/verify/some/path'],
    ] as const) {
      const response = await app.inject({ method, url, headers: apiKey === undefined ? {} : { 'x-api-key': apiKey } });
      const where = `${label}, ${method} ${url}`;
      t.equal(response.statusCode, 401, where);
      t.match(response.headers['content-type'], /^application\/json/, where);
      t.same(Object.keys(response.json()), ['error'], where);
      const { error } = response.json();
      t.equal(error.code, code, where);
      t.type(error.message, 'string', where);
      t.equal(error.requestId, response.headers['x-request-id'], where);
      for (const header of IDENTITY_HEADERS) t.notOk(response.headers[header], `${where}: no ${header}`);
    }
  }

  const head = await app.inject({ method: 'HEAD', url: '/v1/verify', headers: { 'x-api-key': 'not-a-key' } });
  t.equal(head.statusCode, 401, 'HEAD fails with the same status');
  t.equal(head.body, '', 'and, being HEAD, no body');
  for (const header of IDENTITY_HEADERS) t.notOk(head.headers[header], `HEAD: no ${header}`);

  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/verify', headers: { 'x-api-key': good.apiKey } })).statusCode,
    204,
    'the good key still verifies',
  );
});
