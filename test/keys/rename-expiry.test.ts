import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import t from 'tap';
import { waitInWords } from '../../src/http/errors.js';
import { rotatedKeyName } from '../../src/keys/key-names.js';
import { callMe, createKey, renameKey, rotateKey, signUp } from '../support/app.js';
import { createFleetServices, startFleetInstance } from '../support/fleet.js';
import { sleep } from '../support/wait.js';

// Issue #16: rename, expiry at creation, and which key a rotation replaces.
t.test('rename, expiry at creation, replacesKeyId', async (t) => {
  const fleet = await createFleetServices(t);
  const a = await startFleetInstance(t, fleet);
  const { app } = a;
  const sql = postgres(fleet.databaseUrl, { max: 2 });
  t.teardown(() => sql.end());

  const audit = (keyId: string, action: string) =>
    sql`SELECT details, actor_email FROM audit_events WHERE key_id = ${keyId} AND action = ${action}`;

  t.test('PATCH /v1/keys/{keyId} renames, audited as key.renamed with the old and new name', async (t) => {
    const user = await signUp(app);
    const key = await createKey(app, user.cookie, 'production');
    const rename = await renameKey(app, user.cookie, key.keyId, { name: '  production (eu)  ' });
    t.equal(rename.statusCode, 200);
    t.equal(rename.json().key.name, 'production (eu)', 'trimmed');
    const list = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.equal(list.json().keys[0].name, 'production (eu)');
    const [record] = await audit(key.keyId, 'key.renamed');
    t.same(record?.details, { from: 'production', name: 'production (eu)' });
    t.equal(record?.actor_email, user.email);
    t.equal((await callMe(app, key.apiKey)).statusCode, 200, 'the key still works');

    const same = await renameKey(app, user.cookie, key.keyId, { name: 'production (eu)' });
    t.equal(same.statusCode, 200);
    t.equal((await audit(key.keyId, 'key.renamed')).length, 1, 'an unchanged name records nothing');

    const bodies: Array<[unknown, RegExp]> = [
      [{}, /^body must NOT have fewer than 1 properties$/],
      [{ name: '' }, /^body\/name must NOT have fewer than 1 characters$/],
      [{ name: '   ' }, /^body\/name must match pattern/],
      [{ name: 'x'.repeat(101) }, /^body\/name must NOT have more than 100 characters$/],
      [{ name: 'ok', extra: 1 }, /^body must NOT have additional property 'extra'$/],
    ];
    for (const [payload, message] of bodies) {
      const response = await renameKey(app, user.cookie, key.keyId, payload as object);
      t.equal(response.statusCode, 400, JSON.stringify(payload));
      t.match(response.json(), { error: { code: 'invalid_request', message, requestId: String } }, 'in the envelope');
    }
    const stranger = await signUp(app, 'Stranger');
    const theirs = await renameKey(app, stranger.cookie, key.keyId, { name: 'mine now' });
    t.equal(theirs.statusCode, 404);
    t.equal(theirs.json().error.code, 'key_not_found');
    const signedOut = await app.inject({ method: 'PATCH', url: `/v1/keys/${key.keyId}`, payload: { name: 'x' } });
    t.equal(signedOut.statusCode, 401);
  });

  t.test('a key generated with expiresInSeconds is refused after it on every check tier', async (t) => {
    const b = await startFleetInstance(t, fleet);
    const user = await signUp(app);
    const created = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: user.cookie },
      payload: { name: 'temporary', expiresInSeconds: 2 },
    });
    t.equal(created.statusCode, 201);
    const { apiKey, key } = created.json();
    t.equal(key.status, 'active');
    const expiresAt = Date.parse(key.expiresAt);
    t.ok(expiresAt > Date.now() && expiresAt <= Date.now() + 2500, 'expiresAt about 2 seconds away');
    const [record] = await audit(key.id, 'key.created');
    t.same(record?.details, { name: 'temporary', expiresAt: key.expiresAt }, 'the audit record says when');

    // Both instances cache it (A first: local cache and the Redis hot entry; B from the hot entry).
    t.equal((await callMe(app, apiKey)).statusCode, 200);
    t.equal((await callMe(b.app, apiKey)).statusCode, 200);
    await sleep(expiresAt - Date.now() + 100);

    for (const [label, instance] of [
      ['instance A (local cache)', app],
      ['instance B (local cache)', b.app],
    ] as const) {
      const refused = await callMe(instance, apiKey);
      t.equal(refused.statusCode, 401, label);
      t.equal(refused.json().error.code, 'api_key_expired', label);
    }
    // A fresh instance: nothing cached locally, the Redis hot entry still there.
    const c = await startFleetInstance(t, fleet);
    t.equal((await callMe(c.app, apiKey)).json().error?.code, 'api_key_expired', 'fresh instance (Redis hot entry)');
    // An instance with a Redis of its own: the database row is all it has.
    const d = await startFleetInstance(t, { ...fleet, redisPrefix: `keyward_test:${randomBytes(6).toString('hex')}:` });
    t.equal((await callMe(d.app, apiKey)).json().error?.code, 'api_key_expired', 'fresh instance (database)');

    const list = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.equal(list.json().keys[0].status, 'expired', 'the list says expired');
    const again = await createKey(app, user.cookie);
    const another = await createKey(app, user.cookie);
    t.ok(again.apiKey && another.apiKey, 'the expired key freed its slot');
  });

  t.test('expiresInSeconds is bounded like the grace period of a rotation', async (t) => {
    const user = await signUp(app);
    for (const [payload, message] of [
      [{ expiresInSeconds: 0 }, /^body\/expiresInSeconds must be >= 1$/],
      [{ expiresInSeconds: 31 * 24 * 3600 }, /^body\/expiresInSeconds must be <= \d+$/],
      [{ expiresInSeconds: 1.5 }, /^body\/expiresInSeconds must be integer$/],
      [{ expiresInSeconds: 'soon' }, /^body\/expiresInSeconds must be integer$/],
    ] as const) {
      const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload });
      t.equal(response.statusCode, 400, JSON.stringify(payload));
      t.match(response.json(), { error: { code: 'invalid_request', message } });
    }
    const list = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.same(list.json().keys, [], 'nothing was created');
  });

  t.test('a rotated key says which key it replaces; unrelated keys replace nothing', async (t) => {
    const user = await signUp(app);
    const production = await createKey(app, user.cookie, 'production (rotated) (rotated)');
    const rotate = await rotateKey(app, user.cookie, production.keyId);
    t.equal(rotate.statusCode, 201);
    const body = rotate.json();
    t.equal(body.key.replacesKeyId, production.keyId);
    t.equal(body.oldKey.replacesKeyId, null);
    t.match(body.key.name, /^production \(rotated \d{4}-\d{2}-\d{2}\)$/, 'the default name does not grow');
    const list = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.same(
      list.json().keys.map((key: { replacesKeyId: string | null }) => key.replacesKeyId),
      [production.keyId, null],
    );

    const other = await signUp(app);
    await createKey(app, other.cookie, 'production');
    await createKey(app, other.cookie, 'staging');
    const unrelated = await app.inject({ url: '/v1/keys', headers: { cookie: other.cookie } });
    t.same(
      unrelated.json().keys.map((key: { replacesKeyId: string | null }) => key.replacesKeyId),
      [null, null],
    );
  });

  t.test('rotatedKeyName replaces its suffix instead of appending one', async (t) => {
    const day = new Date('2026-03-09T12:00:00Z');
    t.equal(rotatedKeyName('production', day), 'production (rotated 2026-03-09)');
    t.equal(rotatedKeyName('production (rotated) (rotated)', day), 'production (rotated 2026-03-09)');
    t.equal(rotatedKeyName('production (rotated 2026-01-01)', day), 'production (rotated 2026-03-09)');
    t.equal(rotatedKeyName('x'.repeat(100), day).length, 100, 'never longer than a name may be');
    t.equal(rotatedKeyName('(rotated)', day), 'API key (rotated 2026-03-09)');
  });

  t.test('rotatedKeyName adds a counter when an active key already has the name (issue 28)', async (t) => {
    const day = new Date('2026-03-09T12:00:00Z');
    const taken = new Set(['production (rotated 2026-03-09)']);
    t.equal(rotatedKeyName('production (rotated 2026-03-09)', day, taken), 'production (rotated 2026-03-09, 2)');
    taken.add('production (rotated 2026-03-09, 2)');
    t.equal(rotatedKeyName('production (rotated 2026-03-09, 2)', day, taken), 'production (rotated 2026-03-09, 3)');
    t.equal(
      rotatedKeyName('production (rotated 2026-03-09, 7)', day),
      'production (rotated 2026-03-09)',
      'a free name needs no counter',
    );
    const long = 'x'.repeat(100);
    const first = rotatedKeyName(long, day);
    const second = rotatedKeyName(long, day, new Set([first]));
    t.equal(second.length, 100, 'the counter fits within the bound');
    t.match(second, /\(rotated 2026-03-09, 2\)$/);
  });

  t.test(
    'rotating "production (rotated <today>)" the same day names the new key with a counter (issue 28)',
    async (t) => {
      const user = await signUp(app);
      const today = new Date().toISOString().slice(0, 10);
      const first = await createKey(app, user.cookie, `production (rotated ${today})`);
      const rotate = await rotateKey(app, user.cookie, first.keyId, { expireOldKeyInSeconds: 3600 });
      t.equal(rotate.statusCode, 201);
      t.equal(rotate.json().key.name, `production (rotated ${today}, 2)`, 'the old key, still active, keeps its name');
      const named = await rotateKey(app, user.cookie, rotate.json().key.id, { name: 'mine', expireOldKeyInSeconds: 0 });
      t.equal(named.statusCode, 201);
      t.equal(named.json().key.name, 'mine', 'a name given is kept as given');
    },
  );
});

t.test('waitInWords: a Retry-After in words, rounded up', async (t) => {
  t.equal(waitInWords(0.2), '1 second');
  t.equal(waitInWords(40), '40 seconds');
  t.equal(waitInWords(60), '1 minute');
  t.equal(waitInWords(13 * 60 + 1), '14 minutes');
  t.equal(waitInWords(3600), '1 hour');
  t.equal(waitInWords(3601), '2 hours');
});

t.test('an unknown address: a page for a browser, the JSON envelope for API clients', async (t) => {
  const fleet = await createFleetServices(t);
  const { app } = await startFleetInstance(t, fleet);
  const browser = await app.inject({
    url: '/settings/nowhere',
    headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
  });
  t.equal(browser.statusCode, 404);
  t.match(browser.headers['content-type'], /^text\/html/);
  t.match(browser.headers['content-security-policy'], /default-src 'self'/);
  t.match(browser.body, /<h1>Page not found<\/h1>/);
  for (const accept of [undefined, 'application/json', '*/*']) {
    const client = await app.inject({ url: '/v1/nowhere', headers: accept ? { accept } : {} });
    t.equal(client.statusCode, 404, `Accept: ${accept}`);
    t.match(client.json(), { error: { code: 'not_found', message: 'No route GET /v1/nowhere.' } });
  }
  const post = await app.inject({ method: 'POST', url: '/nowhere', headers: { accept: 'text/html' } });
  t.equal(post.json().error.code, 'not_found', 'only page loads (GET) get the page');
});
