import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildTestApp, signUp } from '../support/app.js';
import type { KeywardApp } from '../../src/app/app.js';

/*
 * Restricted keys (issue #25) through the real app: scopes, allowed networks and metadata set on a new key,
 * carried over by a rotation, changed by PATCH (effective at once, on the instance's cached key too), and
 * enforced by /v1/me and by forward auth (/v1/verify with x-keyward-required-scopes).
 */

async function createRestrictedKey(app: KeywardApp, cookie: string, body: Record<string, unknown>) {
  const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie }, payload: body });
  return response;
}

function verify(app: KeywardApp, apiKey: string, options: { scopes?: string; from?: string } = {}) {
  return app.inject({
    method: 'GET',
    url: '/v1/verify',
    remoteAddress: options.from ?? '127.0.0.1',
    headers: {
      'x-api-key': apiKey,
      ...(options.scopes === undefined ? {} : { 'x-keyward-required-scopes': options.scopes }),
    },
  });
}

t.test('a key limited to scopes, networks and carrying metadata, as the API and forward auth see it', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const created = await createRestrictedKey(app, user.cookie, {
    name: 'reporting',
    scopes: ['orders:read', 'reports:read'],
    allowedNetworks: ['203.0.113.0/24', '2001:db8::/32'],
    metadata: { team: 'data', tier: 2 },
  });
  t.equal(created.statusCode, 201, created.body);
  const { apiKey, key } = created.json();
  t.same(key.scopes, ['orders:read', 'reports:read']);
  t.same(key.allowedNetworks, ['203.0.113.0/24', '2001:db8::/32']);
  t.same(key.metadata, { team: 'data', tier: 2 });

  const me = await app.inject({
    method: 'GET',
    url: '/v1/me',
    remoteAddress: '203.0.113.9',
    headers: { 'x-api-key': apiKey },
  });
  t.equal(me.statusCode, 200);
  t.same(me.json(), {
    accountId: user.accountId,
    keyId: key.id,
    scopes: ['orders:read', 'reports:read'],
    metadata: { team: 'data', tier: 2 },
  });

  const granted = await verify(app, apiKey, { scopes: 'orders:read', from: '203.0.113.9' });
  t.equal(granted.statusCode, 204);
  t.equal(granted.headers['x-keyward-scopes'], 'orders:read reports:read');
  // The same, answered from the instance's cache (the second check of the key).
  t.equal((await verify(app, apiKey, { scopes: 'reports:read orders:read', from: '2001:db8::7' })).statusCode, 204);

  const missing = await verify(app, apiKey, { scopes: 'orders:read orders:write', from: '203.0.113.9' });
  t.equal(missing.statusCode, 403);
  t.equal(missing.json().error.code, 'insufficient_scope');
  t.match(missing.json().error.message, /orders:write/);
  t.notMatch(missing.json().error.message, /orders:read/, 'names only the missing scopes');

  for (const outside of ['198.51.100.4', '::ffff:198.51.100.4', '2001:db9::1']) {
    const refused = await verify(app, apiKey, { from: outside });
    t.equal(refused.statusCode, 403, outside);
    t.equal(refused.json().error.code, 'address_not_allowed', outside);
  }
  t.equal((await verify(app, apiKey, { from: '::ffff:203.0.113.10' })).statusCode, 204, 'IPv4-mapped IPv6 is IPv4');

  // A full-access key: no x-keyward-scopes, and any required scope passes.
  const full = (await createRestrictedKey(app, user.cookie, { name: 'full' })).json();
  t.same([full.key.scopes, full.key.allowedNetworks, full.key.metadata], [null, null, null]);
  const fullVerify = await verify(app, full.apiKey, { scopes: 'anything:at-all' });
  t.equal(fullVerify.statusCode, 204);
  t.notOk('x-keyward-scopes' in fullVerify.headers);
});

t.test('a narrowing PATCH takes effect before it returns, audited with before and after', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const { apiKey, key } = (
    await createRestrictedKey(app, user.cookie, { scopes: ['orders:read', 'orders:write'] })
  ).json();
  t.equal((await verify(app, apiKey, { scopes: 'orders:write' })).statusCode, 204, 'cached with both scopes');

  const patched = await app.inject({
    method: 'PATCH',
    url: `/v1/keys/${key.id}`,
    headers: { cookie: user.cookie },
    payload: { scopes: ['orders:read'], allowedNetworks: ['127.0.0.1'], metadata: { owner: 'ops' } },
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.same(patched.json().key.scopes, ['orders:read']);
  const refused = await verify(app, apiKey, { scopes: 'orders:write' });
  t.equal(refused.statusCode, 403);
  t.equal(refused.json().error.code, 'insufficient_scope');
  t.equal(
    (await verify(app, apiKey, { scopes: 'orders:read', from: '10.9.9.9' })).json().error.code,
    'address_not_allowed',
  );
  t.equal((await verify(app, apiKey, { scopes: 'orders:read' })).statusCode, 204);

  // Widening back to full access and anywhere.
  const widened = await app.inject({
    method: 'PATCH',
    url: `/v1/keys/${key.id}`,
    headers: { cookie: user.cookie },
    payload: { scopes: null, allowedNetworks: null },
  });
  t.equal(widened.statusCode, 200);
  t.equal((await verify(app, apiKey, { scopes: 'orders:write', from: '10.9.9.9' })).statusCode, 204);

  const audit = await app.inject({ method: 'GET', url: '/v1/audit', headers: { cookie: user.cookie } });
  const updates = audit.json().events.filter((event: { action: string }) => event.action === 'key.updated');
  t.same(
    updates.map((event: { details: unknown }) => event.details),
    [
      { scopes: null, previousScopes: 'orders:read', allowedNetworks: null, previousAllowedNetworks: '127.0.0.1' },
      {
        scopes: 'orders:read',
        previousScopes: 'orders:read orders:write',
        allowedNetworks: '127.0.0.1',
        previousAllowedNetworks: null,
        metadata: '{"owner":"ops"}',
        previousMetadata: null,
      },
    ],
  );
});

t.test('a rotation keeps the restriction unless the call changes it', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const { key } = (
    await createRestrictedKey(app, user.cookie, {
      scopes: ['orders:read'],
      allowedNetworks: ['10.0.0.0/8'],
      metadata: { a: 1 },
    })
  ).json();
  const rotate = (keyId: string, body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: `/v1/keys/${keyId}/rotate`, headers: { cookie: user.cookie }, payload: body });
  const kept = await rotate(key.id, { expireOldKeyInSeconds: 0 });
  t.equal(kept.statusCode, 201, kept.body);
  t.same(
    [kept.json().key.scopes, kept.json().key.allowedNetworks, kept.json().key.metadata],
    [['orders:read'], ['10.0.0.0/8'], { a: 1 }],
  );
  const changed = await rotate(kept.json().key.id, { expireOldKeyInSeconds: 0, scopes: null });
  t.same(
    [changed.json().key.scopes, changed.json().key.allowedNetworks, changed.json().key.metadata],
    [null, ['10.0.0.0/8'], { a: 1 }],
  );
});

t.test(
  'bad scopes, networks and metadata answer 400 in the envelope; an ended key keeps its restriction',
  async (t) => {
    const catalogue = join(tmpdir(), `keyward-scopes-${process.pid}.json`);
    writeFileSync(catalogue, JSON.stringify({ 'orders:read': 'Read orders', 'orders:write': 'Change orders' }));
    const { app } = await buildTestApp(t, { env: { KEYWARD_SCOPES_FILE: catalogue } });
    const user = await signUp(app);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ scopes: ['orders read'] }, 'invalid_request'],
      [{ scopes: ['orders:read', 'orders:read'] }, 'invalid_request'],
      [{ scopes: 'orders:read' }, 'invalid_request'],
      [{ scopes: ['orders:delete'] }, 'unknown_scope'],
      [{ allowedNetworks: ['10.0.0.0/33'] }, 'invalid_request'],
      [{ allowedNetworks: ['not-an-address'] }, 'invalid_request'],
      [{ allowedNetworks: ['fe80::1%eth0'] }, 'invalid_request'],
      [{ metadata: ['a list'] }, 'invalid_request'],
      [{ metadata: { big: 'x'.repeat(5000) } }, 'invalid_request'],
      [{ metadata: { a: { b: { c: { d: { e: 1 } } } } } }, 'invalid_request'],
    ];
    for (const [body, code] of bad) {
      const response = await createRestrictedKey(app, user.cookie, body);
      t.equal(response.statusCode, 400, JSON.stringify(body));
      t.equal(response.json().error.code, code, JSON.stringify(body));
    }
    const scopes = await app.inject({ method: 'GET', url: '/v1/scopes', headers: { cookie: user.cookie } });
    t.same(scopes.json(), {
      scopes: [
        { name: 'orders:read', description: 'Read orders' },
        { name: 'orders:write', description: 'Change orders' },
      ],
    });

    const { key } = (await createRestrictedKey(app, user.cookie, { scopes: ['orders:read'] })).json();
    const empty = await app.inject({
      method: 'PATCH',
      url: `/v1/keys/${key.id}`,
      headers: { cookie: user.cookie },
      payload: {},
    });
    t.equal(empty.statusCode, 400);
    await app.inject({ method: 'DELETE', url: `/v1/keys/${key.id}`, headers: { cookie: user.cookie } });
    const ended = await app.inject({
      method: 'PATCH',
      url: `/v1/keys/${key.id}`,
      headers: { cookie: user.cookie },
      payload: { scopes: ['orders:write'] },
    });
    t.equal(ended.statusCode, 409);
    t.equal(ended.json().error.code, 'key_not_active');
    const renamed = await app.inject({
      method: 'PATCH',
      url: `/v1/keys/${key.id}`,
      headers: { cookie: user.cookie },
      payload: { name: 'old reporting key' },
    });
    t.equal(renamed.statusCode, 200, 'an ended key can still be renamed');
  },
);

t.test('a scope catalogue that cannot be used is refused at start', async (t) => {
  const catalogue = join(tmpdir(), `keyward-bad-scopes-${process.pid}.json`);
  writeFileSync(catalogue, JSON.stringify({ 'has space': 'no' }));
  await t.rejects(buildTestApp(t, { env: { KEYWARD_SCOPES_FILE: catalogue } }), /KEYWARD_SCOPES_FILE: "has space"/);
  await t.rejects(
    buildTestApp(t, { env: { KEYWARD_SCOPES_FILE: join(tmpdir(), 'keyward-no-such-file.json') } }),
    /KEYWARD_SCOPES_FILE: cannot read/,
  );
});
