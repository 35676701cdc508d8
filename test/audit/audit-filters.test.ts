import t from 'tap';
import { buildTestApp, createKey, revokeKey, signUp } from '../support/app.js';

/*
 * The audit log's filters (issue 28): `action` and `keyId` are applied by the query, so a page holds up to
 * `limit` matching events however far back they are, and its cursor continues among the matching ones.
 * Bad values are a 400 in the error envelope.
 */

interface AuditPage {
  events: { id: string; action: string; keyId: string | null }[];
  nextCursor: string | null;
}

const { app } = await buildTestApp(t, { embedded: true });
const user = await signUp(app, 'Filtered');

async function audit(query: string): Promise<AuditPage> {
  const response = await app.inject({ method: 'GET', url: `/v1/audit?${query}`, headers: { cookie: user.cookie } });
  if (response.statusCode !== 200) throw new Error(`GET /v1/audit?${query}: ${response.statusCode} ${response.body}`);
  return response.json();
}

/** Every page of a query, following the cursor with the same filters. */
async function walk(query: string): Promise<AuditPage['events'][]> {
  const pages: AuditPage['events'][] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 100; n++) {
    const page = await audit(`${query}${cursor === null ? '' : `&cursor=${cursor}`}`);
    pages.push(page.events);
    cursor = page.nextCursor;
    if (cursor === null) return pages;
  }
  throw new Error('the cursor never ended');
}

// One key kept throughout, and eight generated and revoked after it: the kept key's events are far back.
const kept = await createKey(app, user.cookie, 'kept');
const others: string[] = [];
for (let i = 0; i < 8; i++) {
  const { keyId } = await createKey(app, user.cookie, `other ${i}`);
  // Setup, before any assertion (an assertion at the top level would let tap end the root test early).
  const revoked = await revokeKey(app, user.cookie, keyId);
  if (revoked.statusCode !== 200) throw new Error(`revoke failed: ${revoked.statusCode} ${revoked.body}`);
  others.push(keyId);
}
const all = (await walk('limit=200')).flat();

t.test('action: only that action, every one, newest first, over pages', async (t) => {
  const expected = all.filter((event) => event.action === 'key.revoked').map((event) => event.id);
  t.equal(expected.length, 8);
  const pages = await walk('limit=3&action=key.revoked');
  t.same(
    pages.map((page) => page.length),
    [3, 3, 2],
    'full pages of matching events: the filter is applied before the limit',
  );
  t.same(
    pages.flat().map((event) => event.id),
    expected,
    'every revocation once, newest first',
  );
  t.same(await audit('action=password.changed'), { events: [], nextCursor: null }, 'no match: an empty page');
});

t.test('keyId: only the events about that key, even the oldest', async (t) => {
  const first = await audit(`limit=1&keyId=${kept.keyId}`);
  t.same(
    first.events.map((event) => [event.action, event.keyId]),
    [['key.created', kept.keyId]],
    "the kept key's creation, behind 16 newer events",
  );
  t.equal(first.nextCursor, null, 'nothing older about it');
  const revoked = (await walk(`limit=1&keyId=${others[0]}`)).flat();
  t.same(
    revoked.map((event) => event.action),
    ['key.revoked', 'key.created'],
  );
  const both = await audit(`keyId=${others[0]}&action=key.revoked`);
  t.same(
    both.events.map((event) => [event.action, event.keyId]),
    [['key.revoked', others[0]]],
    'both filters: events matching both',
  );
});

t.test('bad filters are a 400 in the envelope; a filter is no way into another account', async (t) => {
  for (const query of [
    'action=key.exploded',
    'action=',
    'action=member.created',
    'keyId=short',
    'keyId=' + 'A'.repeat(17),
    'keyId=abc%20def%20ghij%2012',
    'keyId=',
    'actor=someone@example.com',
  ]) {
    const response = await app.inject({ method: 'GET', url: `/v1/audit?${query}`, headers: { cookie: user.cookie } });
    t.equal(response.statusCode, 400, `${query}: 400`);
    t.equal(response.json().error?.code, 'invalid_request', `${query}: invalid_request`);
  }
  const other = await signUp(app, 'Other');
  const response = await app.inject({
    method: 'GET',
    url: `/v1/audit?keyId=${kept.keyId}`,
    headers: { cookie: other.cookie },
  });
  t.same(response.json(), { events: [], nextCursor: null }, "another account's key id: nothing");
});
