/**
 * Sessions and accounts, for every session-authenticated route of openapi/openapi.json (the list is read from
 * the document, so a new route is covered as soon as it is documented): no session, another account's
 * session, a cross-site request, a logged-out or expired session — each is refused and changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import t, { type Test } from 'tap';
import { buildTestApp, callMe, createKey, signUp } from '../support/app.js';
import { DatabaseFingerprint, NO_BACKGROUND_WRITES, diff } from '../support/database-fingerprint.js';
import { envelopeProblem, errorOf, within, type InjectedResponse } from '../support/http.js';
import { fillPath, loadOperations, SAFE_METHODS, type Operation } from '../support/openapi-operations.js';

// Every route of the document, many inputs each: more routes take longer than tap's default 120 s on a busy machine.
t.setTimeout(360_000);

const REQUEST_TIMEOUT_MS = 5000;
const operations = loadOperations();
const sessionOperations = operations.filter((operation) => operation.auth === 'session');
/** Cookie-authenticated state changes, plus sign-in and sign-up (state changes that need no session). */
const csrfOperations = [
  ...sessionOperations.filter((operation) => !SAFE_METHODS.has(operation.method)),
  ...operations.filter((operation) => operation.auth === 'none' && !SAFE_METHODS.has(operation.method)),
];

interface RequestOptions {
  keyId?: string;
  webhookId?: string;
  /** The session DELETE /v1/account/sessions/{sessionId} ends: by default the one of `cookie`. */
  sessionId?: string;
  cookie?: string;
  headers?: Record<string, string>;
  email?: string;
  password?: string;
}

/** A valid request of an operation: its documented example body and parameters, with our key and user. */
function requestFor(operation: Operation, options: RequestOptions): InjectOptions {
  const params: Record<string, string> = {};
  for (const parameter of operation.parameters.filter((p) => p.in === 'path')) {
    const own = {
      keyId: options.keyId,
      webhookId: options.webhookId,
      sessionId: options.sessionId ?? (options.cookie ? tokenHash(options.cookie).slice(0, 16) : undefined),
    }[parameter.name];
    params[parameter.name] = own ?? String(parameter.example);
  }
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  let payload: string | undefined;
  if (operation.body) {
    const body = { ...(operation.body.example as Record<string, unknown>) };
    if ('email' in body && options.email) body.email = options.email;
    if ('password' in body && options.password) body.password = options.password;
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  return { method: operation.method as 'GET', url: fillPath(operation, params), headers, payload };
}

const name = (operation: Operation) => `${operation.method} ${operation.path}`;
const answer = (response: InjectedResponse) =>
  `${response.statusCode} ${response.statusCode >= 400 && !envelopeProblem(response) ? errorOf(response).code : ''}`.trim();
const tokenHash = (cookie: string) => createHash('sha256').update(cookie.split('=')[1]!).digest('hex');

t.test('the session routes are read from the document', async (t) => {
  const ids = sessionOperations.map((operation) => operation.operationId);
  for (const id of ['logOut', 'getSession', 'listKeys', 'createKey', 'revokeKey', 'rotateKey', 'getKeyUsage']) {
    t.ok(ids.includes(id), `${id} is session-authenticated`);
  }
  t.ok(ids.includes('listAuditEvents'), 'listAuditEvents is session-authenticated');
  const csrf = csrfOperations.map((operation) => operation.operationId);
  for (const id of ['signUp', 'logIn', 'logOut', 'createKey', 'revokeKey', 'rotateKey']) t.ok(csrf.includes(id));
});

t.test('sessions and accounts', async (t) => {
  const { app, runtime, databaseUrl } = await buildTestApp(t, {
    env: NO_BACKGROUND_WRITES,
  });
  const fingerprint = new DatabaseFingerprint(databaseUrl!);
  t.teardown(() => fingerprint.close());
  const inject = (options: InjectOptions) =>
    within(app.inject(options), REQUEST_TIMEOUT_MS, `${options.method} ${options.url}`) as Promise<
      InjectedResponse & { json(): unknown; cookies: Array<{ name: string; value: string; expires?: Date }> }
    >;
  const logIn = async (email: string, password: string) => {
    const response = await inject({ method: 'POST', url: '/v1/login', payload: { email, password } });
    if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
    return `keyward_session=${response.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  };
  const createWebhook = async (cookie: string) => {
    const response = await inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { cookie },
      payload: { url: 'https://hooks.example.com/k' },
    });
    return (response.json() as { webhook: { id: string } }).webhook.id;
  };

  /** Every session route with `cookie`: 401 session_required in the envelope, and nothing changes. */
  async function expectRefusedEverywhere(t: Test, cookie: string | undefined, keyId: string, extra = {}) {
    const before = await fingerprint.take();
    for (const operation of sessionOperations) {
      const response = await inject(requestFor(operation, { cookie, keyId, headers: extra }));
      t.equal(answer(response), '401 session_required', name(operation));
      t.equal(envelopeProblem(response), undefined, `${name(operation)}: envelope`);
    }
    t.same(diff(before, await fingerprint.take()), [], 'nothing changed');
  }

  // Account A: a revoked key, a key scheduled to expire, its replacement; usage, callers and audit.
  const alpha = await signUp(app, `Alpha ${randomBytes(4).toString('hex')}`);
  const revoked = await createKey(app, alpha.cookie, 'alpha revoked');
  await inject({ method: 'DELETE', url: `/v1/keys/${revoked.keyId}`, headers: { cookie: alpha.cookie } });
  const old = await createKey(app, alpha.cookie, 'alpha old');
  for (let i = 0; i < 3; i++) await callMe(app, old.apiKey);
  const rotation = await inject({
    method: 'POST',
    url: `/v1/keys/${old.keyId}/rotate`,
    headers: { cookie: alpha.cookie },
    payload: { expireOldKeyInSeconds: 86400 },
  });
  t.equal(rotation.statusCode, 201, 'account A rotated its key');
  const current = {
    apiKey: (rotation.json() as { apiKey: string }).apiKey,
    keyId: (rotation.json() as { key: { id: string } }).key.id,
  };
  await callMe(app, current.apiKey);
  await inject({ method: 'POST', url: '/v1/login', payload: { email: alpha.email, password: 'wrong password' } });
  await runtime.keyChecking.usage?.flush();
  const alphaKeys = [revoked, old, current];
  const alphaAccountName = (
    (await inject({ url: '/v1/session', headers: { cookie: alpha.cookie } })).json() as { account: { name: string } }
  ).account.name;
  const alphaSecrets = [
    alpha.accountId,
    alpha.userId,
    alpha.email,
    alphaAccountName,
    alpha.cookie.split('=')[1]!,
    ...alphaKeys.flatMap((key) => [key.keyId, key.apiKey]),
  ];
  const alphaRows = await fingerprint.ofAccount(alpha.accountId);
  for (const table of ['api_keys', 'key_usage', 'key_callers', 'audit_events', 'sessions', 'key_events']) {
    t.ok((alphaRows[table]?.length ?? 0) > 0, `account A has rows in ${table}`);
  }

  t.test('(a) without a session every session route answers 401 session_required', async (t) => {
    const variants: Record<string, { cookie?: string; headers?: Record<string, string> }> = {
      'no cookie': {},
      'forged token': { cookie: `keyward_session=${randomBytes(32).toString('base64url')}` },
      'empty token': { cookie: 'keyward_session=' },
      "A's token under another cookie name": { cookie: `session=${alpha.cookie.split('=')[1]}` },
      "A's token, changed": { cookie: `${alpha.cookie.slice(0, -2)}${alpha.cookie.endsWith('AA') ? 'BB' : 'AA'}` },
      "A's token hash as the token": { cookie: `keyward_session=${tokenHash(alpha.cookie)}` },
      "A's token as a bearer token": { headers: { authorization: `Bearer ${alpha.cookie.split('=')[1]}` } },
      "A's API key": { headers: { 'x-api-key': current.apiKey } },
    };
    for (const [variant, { cookie, headers }] of Object.entries(variants)) {
      await t.test(variant, (t) => expectRefusedEverywhere(t, cookie, current.keyId, headers));
    }
    t.equal(
      answer(await inject({ url: '/v1/session', headers: { cookie: alpha.cookie } })),
      '200',
      "A's session works",
    );
  });

  t.test("(b) account B can neither read nor change account A's keys, usage or audit", async (t) => {
    const beta = await signUp(app, 'Beta');
    let betaCookie = beta.cookie;

    const list = await inject({ url: '/v1/keys', headers: { cookie: betaCookie } });
    t.same((list.json() as { keys: unknown[] }).keys, [], "B's key list is its own: empty");
    const audit = await inject({ url: '/v1/audit?limit=200', headers: { cookie: betaCookie } });
    const betaEvents = (audit.json() as { events: Array<{ action: string; actor: string | null }> }).events;
    t.ok(
      betaEvents.some((event) => event.action === 'account.created'),
      "B's audit log starts with its own account.created",
    );
    t.same(
      betaEvents.filter((event) => event.actor !== beta.email),
      [],
      "B's audit log is its own: every event is B's",
    );
    // Cursors are event ids: one pointing just past any of A's events still pages through B's log only.
    const alphaEventIds = await fingerprint.sql<{ id: string }[]>`
      SELECT id::text FROM audit_events WHERE account_id = ${alpha.accountId}`;
    t.ok(alphaEventIds.length > 3, `A has ${alphaEventIds.length} audit events`);
    for (const { id } of alphaEventIds) {
      const cursor = Buffer.from(String(Number(id) + 1)).toString('base64url');
      const page = await inject({ url: `/v1/audit?limit=200&cursor=${cursor}`, headers: { cookie: betaCookie } });
      const leaked = alphaSecrets.filter((secret) => page.body.includes(secret));
      if (page.statusCode !== 200 || leaked.length > 0) t.fail(`cursor ${cursor}: ${page.statusCode} ${leaked}`);
    }
    t.pass("no audit cursor reaches A's events");

    const before = await fingerprint.ofAccount(alpha.accountId);
    for (const operation of sessionOperations) {
      const withKeyId = operation.parameters.some((p) => p.in === 'path' && p.name === 'keyId');
      for (const key of withKeyId ? alphaKeys : [undefined]) {
        // A session path parameter names one of A's sessions: B cannot sign A out.
        const sessionId = tokenHash(alpha.cookie).slice(0, 16);
        const response = await inject(requestFor(operation, { cookie: betaCookie, keyId: key?.keyId, sessionId }));
        if (operation.path.includes('{sessionId}')) t.equal(answer(response), '404 session_not_found', name(operation));
        const label = `${name(operation)}${key ? ` on A's ${key === current ? 'active' : key === old ? 'expiring' : 'revoked'} key` : ''}`;
        if (key) t.equal(answer(response), '404 key_not_found', label);
        else t.ok(response.statusCode < 500, `${label}: ${answer(response)}`);
        t.same(
          alphaSecrets.filter((secret) => response.body.includes(secret)),
          [],
          `${label}: nothing of A in the answer`,
        );
        const session = await inject({ url: '/v1/session', headers: { cookie: betaCookie } });
        if (session.statusCode === 401) betaCookie = await logIn(beta.email, beta.password); // B signed out
      }
    }
    t.same(await fingerprint.ofAccount(alpha.accountId), before, "nothing of A's changed");
    t.equal(answer(await callMe(app, current.apiKey)), '200', "A's current key still works");
    t.equal(answer(await callMe(app, old.apiKey)), '200', "A's expiring key still works");
    t.equal(answer(await callMe(app, revoked.apiKey)), '401 api_key_revoked', "A's revoked key stays revoked");
    const usage = await inject({ url: `/v1/keys/${old.keyId}/usage`, headers: { cookie: alpha.cookie } });
    t.equal(answer(usage), '200', 'the key B was refused exists for A');
  });

  t.test('(c) a cross-site state change is refused with 403 csrf_rejected and changes nothing', async (t) => {
    const crossSite: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: 'http://localhost:80.evil.example' },
      { origin: 'https://localhost:80' },
      { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const operation of csrfOperations) {
      const user = await signUp(app, 'CSRF');
      const key = await createKey(app, user.cookie, 'csrf');
      const webhookId = operation.path.includes('{webhookId}') ? await createWebhook(user.cookie) : undefined;
      const options = {
        cookie: operation.auth === 'session' ? user.cookie : undefined,
        keyId: key.keyId,
        webhookId,
        email: operation.operationId === 'signUp' ? `csrf-${key.keyId.toLowerCase()}@example.com` : user.email,
        password: user.password,
      };
      const before = await fingerprint.take();
      for (const headers of crossSite) {
        const response = await inject(requestFor(operation, { ...options, headers }));
        t.equal(answer(response), '403 csrf_rejected', `${name(operation)} ${JSON.stringify(headers)}`);
        t.equal(envelopeProblem(response), undefined, 'envelope');
      }
      t.same(diff(before, await fingerprint.take()), [], `${name(operation)}: nothing changed`);
      // The same request from the dashboard's own origin goes through and changes something.
      const sameOrigin = await inject(
        requestFor(operation, {
          ...options,
          headers: { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' },
        }),
      );
      t.ok(operation.successStatuses.includes(sameOrigin.statusCode), `same origin: ${answer(sameOrigin)}`);
      t.not(diff(before, await fingerprint.take()).length, 0, 'and that one changes something');
    }
  });

  t.test('(d) after logout, and once expired in the database, a session is refused everywhere', async (t) => {
    const user = await signUp(app, 'Sessions');
    const key = await createKey(app, user.cookie, 'sessions');

    const ended = await logIn(user.email, user.password);
    const logout = await inject({ method: 'POST', url: '/v1/logout', headers: { cookie: ended } });
    t.equal(logout.statusCode, 204);
    const cleared = logout.cookies.find((c) => c.name === 'keyward_session');
    t.ok(
      cleared && cleared.value === '' && cleared.expires && cleared.expires.getTime() <= Date.now(),
      'cookie cleared',
    );
    const [row] = await fingerprint.sql`SELECT 1 FROM sessions WHERE token_hash = ${tokenHash(ended)}`;
    t.notOk(row, 'the session row is gone');
    await t.test('logged out', (t) => expectRefusedEverywhere(t, ended, key.keyId));
    await t.test('logged out, from the dashboard origin', (t) =>
      expectRefusedEverywhere(t, ended, key.keyId, { origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin' }),
    );

    const expired = await logIn(user.email, user.password);
    t.equal(answer(await inject({ url: '/v1/session', headers: { cookie: expired } })), '200', 'fresh session works');
    const updated = await fingerprint.sql`
      UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = ${tokenHash(expired)}`;
    t.equal(updated.count, 1, 'expired in the database');
    await t.test('expired', (t) => expectRefusedEverywhere(t, expired, key.keyId));

    // The same requests with a live session are served: the refusals above are the session's doing.
    const live = await logIn(user.email, user.password);
    const webhookId = await createWebhook(live);
    for (const operation of sessionOperations.filter((op) => SAFE_METHODS.has(op.method))) {
      const response = await inject(requestFor(operation, { cookie: live, keyId: key.keyId, webhookId }));
      t.ok(
        operation.successStatuses.includes(response.statusCode),
        `live session: ${name(operation)} ${answer(response)}`,
      );
    }
  });
});

t.test('no CORS: a foreign origin gets no access-control header from any route, preflight or not', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  const key = await createKey(app, user.cookie, 'cors');
  const origin = 'https://elsewhere.example';
  const granted: string[] = [];
  const grants = (response: InjectedResponse & { headers: Record<string, unknown> }, what: string) => {
    const headers = Object.keys(response.headers).filter((header) => header.startsWith('access-control-'));
    if (headers.length > 0) granted.push(`${what}: ${headers.join(', ')}`);
  };
  for (const operation of operations) {
    const request = requestFor(operation, { cookie: user.cookie, keyId: key.keyId, headers: { origin } });
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: request.url as string,
      headers: {
        origin,
        'access-control-request-method': operation.method,
        'access-control-request-headers': 'x-api-key',
      },
    });
    grants(preflight, `preflight of ${name(operation)}`);
    grants(await app.inject(request), name(operation));
  }
  for (const url of ['/sign-in', '/settings/api-keys', '/docs', '/docs/json']) {
    grants(await app.inject({ url, headers: { origin } }), `GET ${url}`);
  }
  t.same(granted, [], `${operations.length} operations and 4 pages: no access-control-* header for ${origin}`);
});
