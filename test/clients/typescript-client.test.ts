import { readFileSync } from 'node:fs';
import createClient, { type Middleware } from 'openapi-fetch';
import t from 'tap';
import type { ErrorEnvelope, Key, paths } from '../../clients/typescript/keyward.js';
import { CLIENT_TYPES_PATH, generateClientTypes } from '../../scripts/typescript-client.js';
import { startKeywardProcess } from '../support/server-process.js';

t.test('the committed client is what `npm run client` generates from the committed spec', async (t) => {
  t.equal(readFileSync(CLIENT_TYPES_PATH, 'utf8'), await generateClientTypes(), 'run `npm run client` and commit it');
});

/** Keeps the session cookie a response sets and sends it with every later request, as a browser would. */
function sessionCookieJar(): Middleware & { cookie(): string | undefined } {
  let cookie: string | undefined;
  return {
    cookie: () => cookie,
    onRequest({ request }) {
      if (cookie !== undefined) request.headers.set('cookie', cookie);
      return request;
    },
    onResponse({ response }) {
      for (const setCookie of response.headers.getSetCookie()) {
        const pair = setCookie.split(';')[0]!;
        if (pair.startsWith('keyward_session=')) cookie = pair.endsWith('=') ? undefined : pair;
      }
      return response;
    },
  };
}

t.test('the generated client drives the key lifecycle against a real keyward process', async (t) => {
  const server = await startKeywardProcess(t);

  const client = createClient<paths>({ baseUrl: server.url });
  const jar = sessionCookieJar();
  client.use(jar);

  // Checked by tsc, never run: the client refuses what the spec does not allow.
  const typeChecks = () => {
    // @ts-expect-error: not a keyward path
    void client.GET('/v1/nope');
    // @ts-expect-error: a key's name is a string
    void client.POST('/v1/keys', { body: { name: 7 } });
    // @ts-expect-error: rotating needs the key id
    void client.POST('/v1/keys/{keyId}/rotate', { body: {} });
  };
  void typeChecks;

  const signUp = await client.POST('/v1/signup', {
    body: { email: 'ada@example.com', password: 'correct horse battery', accountName: 'Acme Inc.' },
  });
  t.equal(signUp.response.status, 201, 'signed up');
  t.equal(signUp.data?.account.name, 'Acme Inc.');
  t.match(jar.cookie(), /^keyward_session=.+/, 'the session cookie was set');

  const session = await client.GET('/v1/session');
  t.equal(session.data?.user.email, 'ada@example.com', 'the cookie is sent on later calls');

  const created = await client.POST('/v1/keys', { body: { name: 'production' } });
  t.equal(created.response.status, 201, 'key created');
  const first = created.data!;
  t.match(first.apiKey, new RegExp(`^kw_${first.key.id}_[0-9A-Za-z]{39}$`), 'a full key of the documented format');
  t.equal(first.key.status, 'active');

  const rotated = await client.POST('/v1/keys/{keyId}/rotate', { params: { path: { keyId: first.key.id } }, body: {} });
  t.equal(rotated.response.status, 201, 'key rotated');
  const second = rotated.data!;
  t.equal(second.oldKey.id, first.key.id);
  t.match(second.key.name, /^production \(rotated \d{4}-\d{2}-\d{2}\)$/);
  t.equal(second.key.replacesKeyId, first.key.id, 'the new key says which key it replaces');

  const third = await client.POST('/v1/keys', { body: {} });
  t.equal(third.response.status, 409, 'a third active key is refused');
  t.equal(third.error?.error.code, 'key_limit_reached');

  const listed = await client.GET('/v1/keys');
  const keys: Key[] = listed.data!.keys;
  t.same(
    keys.map((key) => [key.id, key.status]),
    [
      [second.key.id, 'active'],
      [first.key.id, 'active'],
    ],
    'both keys listed, newest first',
  );
  t.equal(listed.data!.maxActiveKeys, 2);

  for (const [name, apiKey, keyId] of [
    ['old', first.apiKey, first.key.id],
    ['new', second.apiKey, second.key.id],
  ] as const) {
    const me = await client.GET('/v1/me', { headers: { 'x-api-key': apiKey } });
    t.equal(me.response.status, 200, `the ${name} key works`);
    t.same(me.data, { accountId: signUp.data!.account.id, keyId, scopes: null, metadata: null });
  }

  const revoked = await client.DELETE('/v1/keys/{keyId}', { params: { path: { keyId: first.key.id } } });
  t.equal(revoked.response.status, 200, 'old key revoked');
  t.equal(revoked.data?.key.status, 'revoked');
  t.type(revoked.data?.key.revokedAt, 'string');

  const refused = await client.GET('/v1/me', { headers: { 'x-api-key': first.apiKey } });
  t.equal(refused.response.status, 401, 'the revoked key is refused');
  t.equal(refused.data, undefined);
  const envelope: ErrorEnvelope | undefined = refused.error; // typed by the spec: the one error envelope
  t.equal(envelope?.error.code, 'api_key_revoked');
  t.equal(envelope?.error.requestId, refused.response.headers.get('x-request-id'), 'with the request id');

  const stillWorks = await client.GET('/v1/me', { headers: { 'x-api-key': second.apiKey } });
  t.equal(stillWorks.response.status, 200, 'the new key still works');

  const loggedOut = await client.POST('/v1/logout');
  t.equal(loggedOut.response.status, 204, 'signed out');
  t.equal(jar.cookie(), undefined, 'the cookie was cleared');
  const afterLogout = await client.GET('/v1/keys');
  t.equal(afterLogout.response.status, 401);
  t.equal(afterLogout.error?.error.code, 'session_required');
});
