import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import t from 'tap';
import type { KeywardApp } from '../../src/app/app.js';
import { rotatedKeyName } from '../../src/keys/key-names.js';
import { buildTestApp, callMe, createKey, signUp } from '../support/app.js';

/*
 * The audit log (issue 4): every change leaves exactly its record, written in
 * the same transaction as the change, with who, when and from where; refused
 * changes leave none; an account reads its own log, newest first, in pages.
 */

const PASSWORD = 'correct horse battery';

/** A request from its own address and user agent, so each record can be told apart. */
function from(n: number) {
  return { remoteAddress: `203.0.113.${n}`, userAgent: `audit-test/${n}` };
}

function inject(
  app: KeywardApp,
  options: { method?: 'GET' | 'POST' | 'DELETE'; url: string; cookie?: string; payload?: object; origin?: string },
  client = { remoteAddress: '127.0.0.1', userAgent: 'audit-test' },
) {
  const headers: Record<string, string> = { 'user-agent': client.userAgent };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.origin) headers.origin = options.origin;
  return app.inject({
    method: options.method ?? 'GET',
    url: options.url,
    headers,
    payload: options.payload,
    remoteAddress: client.remoteAddress,
  });
}

interface AuditRow {
  id: number;
  action: string;
  accountId: string | null;
  actorUserId: string | null;
  actorEmail: string | null;
  keyId: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
  createdAt: Date;
}

interface AuditEventView {
  id: string;
  action: string;
  at: string;
  actor: string | null;
  keyId: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
}

/** A record as compared in the tests: everything but its id and time. */
function shape(row: AuditRow) {
  const { id: _id, createdAt: _at, ...rest } = row;
  return rest;
}

t.test('audit log', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t, { env: { KEYWARD_FAILED_AUTH_LIMIT: '1000000' } });
  const sql = postgres(databaseUrl!, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end());

  const lastId = async () =>
    (await sql<{ id: number }[]>`SELECT coalesce(max(id), 0)::int AS id FROM audit_events`)[0]!.id;
  const rowsAfter = (id: number) => sql<AuditRow[]>`
    SELECT id::int AS "id", action, account_id AS "accountId", actor_user_id AS "actorUserId",
           actor_email AS "actorEmail", key_id AS "keyId", client_address AS "clientAddress",
           user_agent AS "userAgent", details, created_at AS "createdAt"
    FROM audit_events WHERE id > ${id} ORDER BY id`;
  /** Runs an operation; returns its response and every audit record written meanwhile (in the whole table). */
  const recorded = async <T>(operation: () => Promise<T>) => {
    const before = await lastId();
    const startedAt = Date.now();
    const result = await operation();
    const rows = await rowsAfter(before);
    const finishedAt = Date.now();
    for (const row of rows) {
      // 1 s of slack for the database's clock against ours (same machine in practice).
      const at = row.createdAt.getTime();
      if (at < startedAt - 1000 || at > finishedAt + 1000) throw new Error(`record ${row.id} has a stray time ${at}`);
    }
    return { result, rows: rows.map(shape) };
  };
  const auditOf = async (cookie: string, query = 'limit=200') => {
    const response = await inject(app, { url: `/v1/audit?${query}`, cookie });
    if (response.statusCode !== 200) throw new Error(`GET /v1/audit: ${response.statusCode} ${response.body}`);
    return response.json() as { events: AuditEventView[]; nextCursor: string | null };
  };
  const countRows = async (table: 'api_keys' | 'key_events' | 'sessions' | 'accounts', accountId?: string) => {
    const [row] =
      table === 'sessions'
        ? await sql`SELECT count(*)::int AS count FROM sessions s JOIN users u ON u.id = s.user_id
                    WHERE ${accountId ?? null}::uuid IS NULL OR u.account_id = ${accountId ?? null}::uuid`
        : table === 'accounts'
          ? await sql`SELECT count(*)::int AS count FROM accounts`
          : await sql`SELECT count(*)::int AS count FROM ${sql(table)}
                      WHERE ${accountId ?? null}::uuid IS NULL OR account_id = ${accountId ?? null}::uuid`;
    return row!.count as number;
  };

  const email = `ada-${randomBytes(4).toString('hex')}@example.com`;
  let accountId = '';
  let userId = '';
  let cookie = '';
  const unknownEmail = `nobody-${randomBytes(4).toString('hex')}@example.com`;

  /** The actor fields every record of this user, calling from address n, carries. */
  const by = (n: number) => ({
    accountId,
    actorUserId: userId,
    actorEmail: email,
    clientAddress: from(n).remoteAddress,
    userAgent: from(n).userAgent,
  });

  t.test('sign-up, sign-in (ok and failed) and sign-out', async (t) => {
    const signup = await recorded(() =>
      inject(
        app,
        { method: 'POST', url: '/v1/signup', payload: { email, password: PASSWORD, accountName: 'Audit' } },
        from(10),
      ),
    );
    t.equal(signup.result.statusCode, 201);
    accountId = signup.result.json().account.id;
    userId = signup.result.json().user.id;
    cookie = `keyward_session=${signup.result.cookies.find((c) => c.name === 'keyward_session')!.value}`;
    t.same(
      signup.rows,
      [
        { action: 'account.created', ...by(10), keyId: null, details: null },
        { action: 'session.created', ...by(10), keyId: null, details: null },
      ],
      'sign-up: account.created and session.created',
    );

    const login = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/login', payload: { email, password: PASSWORD } }, from(11)),
    );
    t.equal(login.result.statusCode, 200);
    const secondCookie = `keyward_session=${login.result.cookies.find((c) => c.name === 'keyward_session')!.value}`;
    t.same(login.rows, [{ action: 'session.created', ...by(11), keyId: null, details: null }], 'sign-in');

    const wrongPassword = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/login', payload: { email, password: 'not the password' } }, from(12)),
    );
    t.equal(wrongPassword.result.statusCode, 401);
    t.equal(wrongPassword.result.json().error.code, 'invalid_credentials');
    t.same(
      wrongPassword.rows,
      [
        {
          action: 'session.failed',
          accountId,
          actorUserId: null,
          actorEmail: null,
          keyId: null,
          clientAddress: from(12).remoteAddress,
          userAgent: from(12).userAgent,
          details: { email },
        },
      ],
      'failed sign-in with a known email: recorded for its account, with no actor',
    );

    const unknown = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/login', payload: { email: unknownEmail, password: PASSWORD } }, from(13)),
    );
    t.equal(unknown.result.statusCode, 401);
    t.same(unknown.result.json().error.code, wrongPassword.result.json().error.code, 'the same answer');
    t.same(
      unknown.rows,
      [
        {
          action: 'session.failed',
          accountId: null,
          actorUserId: null,
          actorEmail: null,
          keyId: null,
          clientAddress: from(13).remoteAddress,
          userAgent: from(13).userAgent,
          details: { email: unknownEmail },
        },
      ],
      'failed sign-in with an unknown email: recorded with no account',
    );

    const longAgent = `agent/${'x'.repeat(400)}`;
    const long = await recorded(() =>
      inject(
        app,
        { method: 'POST', url: '/v1/login', payload: { email: unknownEmail, password: PASSWORD } },
        { remoteAddress: '203.0.113.15', userAgent: longAgent },
      ),
    );
    t.equal(long.rows.length, 1);
    t.equal(long.rows[0]!.userAgent, longAgent.slice(0, 200), 'a user agent is kept to its first 200 characters');

    const logout = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/logout', cookie: secondCookie }, from(14)),
    );
    t.equal(logout.result.statusCode, 204);
    t.same(logout.rows, [{ action: 'session.ended', ...by(14), keyId: null, details: null }], 'sign-out');
    t.equal((await inject(app, { url: '/v1/session', cookie: secondCookie })).statusCode, 401, 'that session ended');

    const view = await auditOf(cookie);
    t.same(
      view.events.map((event) => [event.action, event.actor, event.clientAddress, event.userAgent]),
      [
        ['session.ended', email, from(14).remoteAddress, from(14).userAgent],
        ['session.failed', null, from(12).remoteAddress, from(12).userAgent],
        ['session.created', email, from(11).remoteAddress, from(11).userAgent],
        ['session.created', email, from(10).remoteAddress, from(10).userAgent],
        ['account.created', email, from(10).remoteAddress, from(10).userAgent],
      ],
      "GET /v1/audit: the account's records, newest first; not the unknown email's",
    );
    t.same(view.events[1]!.details, { email }, 'the failed sign-in says which email was tried');
    t.equal(view.nextCursor, null);
  });

  const keys: Record<string, string> = {};

  t.test('key changes: create, rotate with grace, rotate with 0, revoke', async (t) => {
    const create = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/keys', cookie, payload: { name: 'prod' } }, from(20)),
    );
    t.equal(create.result.statusCode, 201);
    keys.k1 = create.result.json().key.id as string;
    t.same(create.rows, [{ action: 'key.created', ...by(20), keyId: keys.k1, details: { name: 'prod' } }], 'create');

    const rotate = await recorded(() =>
      inject(
        app,
        { method: 'POST', url: `/v1/keys/${keys.k1}/rotate`, cookie, payload: { expireOldKeyInSeconds: 3600 } },
        from(21),
      ),
    );
    t.equal(rotate.result.statusCode, 201);
    keys.k2 = rotate.result.json().key.id as string;
    const expiresAt = rotate.result.json().oldKey.expiresAt as string;
    t.same(
      rotate.rows,
      [
        { action: 'key.expiry_scheduled', ...by(21), keyId: keys.k1, details: { expiresAt } },
        {
          action: 'key.rotated',
          ...by(21),
          keyId: keys.k2,
          details: { name: rotatedKeyName('prod'), replaces: keys.k1 },
        },
      ],
      'rotate with grace: key.expiry_scheduled (old key, its expiry) and key.rotated (new key)',
    );

    const rotateNow = await recorded(() =>
      inject(
        app,
        {
          method: 'POST',
          url: `/v1/keys/${keys.k2}/rotate`,
          cookie,
          payload: { name: 'prod v3', expireOldKeyInSeconds: 0 },
        },
        from(22),
      ),
    );
    t.equal(rotateNow.result.statusCode, 201);
    keys.k3 = rotateNow.result.json().key.id as string;
    t.equal(rotateNow.result.json().oldKey.status, 'expired');
    t.same(
      rotateNow.rows,
      [
        { action: 'key.expired', ...by(22), keyId: keys.k2, details: { reason: 'expired' } },
        { action: 'key.rotated', ...by(22), keyId: keys.k3, details: { name: 'prod v3', replaces: keys.k2 } },
      ],
      'rotate with 0: key.expired (old key, by the user) and key.rotated',
    );

    const revoke = await recorded(() =>
      inject(app, { method: 'DELETE', url: `/v1/keys/${keys.k3}`, cookie }, from(23)),
    );
    t.equal(revoke.result.statusCode, 200);
    t.same(
      revoke.rows,
      [{ action: 'key.revoked', ...by(23), keyId: keys.k3, details: { reason: 'revoked' } }],
      'revoke',
    );

    const again = await recorded(() => inject(app, { method: 'DELETE', url: `/v1/keys/${keys.k3}`, cookie }, from(24)));
    t.equal(again.result.statusCode, 200, 'revoking again answers the same');
    t.same(again.rows, [], 'but changes nothing, so records nothing');

    const create2 = await recorded(() => inject(app, { method: 'POST', url: '/v1/keys', cookie }, from(25)));
    t.equal(create2.result.statusCode, 201);
    keys.k4 = create2.result.json().key.id as string;
    t.same(create2.rows, [{ action: 'key.created', ...by(25), keyId: keys.k4, details: { name: 'API key' } }]);

    const view = await auditOf(cookie, 'limit=8');
    t.same(
      view.events.map((event) => [event.action, event.keyId, event.actor, event.clientAddress]),
      [
        ['key.created', keys.k4, email, from(25).remoteAddress],
        ['key.revoked', keys.k3, email, from(23).remoteAddress],
        ['key.rotated', keys.k3, email, from(22).remoteAddress],
        ['key.expired', keys.k2, email, from(22).remoteAddress],
        ['key.rotated', keys.k2, email, from(21).remoteAddress],
        ['key.expiry_scheduled', keys.k1, email, from(21).remoteAddress],
        ['key.created', keys.k1, email, from(20).remoteAddress],
        ['session.ended', null, email, from(14).remoteAddress],
      ],
      'GET /v1/audit shows them, newest first',
    );
  });

  t.test('a refused change leaves no record', async (t) => {
    // k1 (expiry scheduled) and k4 are active; k2 expired; k3 revoked.
    const stranger = await signUp(app, 'Stranger');
    const refused: Array<[string, () => ReturnType<typeof inject>, string]> = [
      ['a third key', () => inject(app, { method: 'POST', url: '/v1/keys', cookie }), 'key_limit_reached'],
      [
        'revoking an unknown key',
        () => inject(app, { method: 'DELETE', url: '/v1/keys/AAAAAAAAAAAAAAAA', cookie }),
        'key_not_found',
      ],
      [
        'rotating an unknown key',
        () => inject(app, { method: 'POST', url: '/v1/keys/AAAAAAAAAAAAAAAA/rotate', cookie }),
        'key_not_found',
      ],
      [
        'revoking a key of another account',
        () => inject(app, { method: 'DELETE', url: `/v1/keys/${keys.k4}`, cookie: stranger.cookie }),
        'key_not_found',
      ],
      [
        'rotating a revoked key',
        () => inject(app, { method: 'POST', url: `/v1/keys/${keys.k3}/rotate`, cookie }),
        'key_not_active',
      ],
      [
        'rotating a key whose expiry is scheduled',
        () => inject(app, { method: 'POST', url: `/v1/keys/${keys.k1}/rotate`, cookie }),
        'rotation_pending',
      ],
      [
        'a grace period over the maximum',
        () =>
          inject(app, {
            method: 'POST',
            url: `/v1/keys/${keys.k4}/rotate`,
            cookie,
            payload: { expireOldKeyInSeconds: 10 ** 9 },
          }),
        'invalid_request',
      ],
      [
        'a change from another origin',
        () => inject(app, { method: 'DELETE', url: `/v1/keys/${keys.k4}`, cookie, origin: 'https://evil.example' }),
        'csrf_rejected',
      ],
      [
        'a sign-up with a taken email',
        () =>
          inject(app, {
            method: 'POST',
            url: '/v1/signup',
            payload: { email, password: PASSWORD, accountName: 'Dup' },
          }),
        'email_taken',
      ],
    ];
    const before = {
      keys: await countRows('api_keys'),
      events: await countRows('key_events'),
      accounts: await countRows('accounts'),
    };
    for (const [name, operation, code] of refused) {
      const { result, rows } = await recorded(operation);
      t.equal(result.json().error?.code, code, `${name}: ${result.statusCode} ${code}`);
      t.same(rows, [], `${name}: no record`);
    }
    t.same(
      {
        keys: await countRows('api_keys'),
        events: await countRows('key_events'),
        accounts: await countRows('accounts'),
      },
      before,
      'and no change',
    );
  });

  t.test('the record is part of the change: when it cannot be written, nothing changes', async (t) => {
    const user = await signUp(app, 'Transactional');
    const addCheck = async (action: string) => {
      // NOT VALID: earlier rows with that action stay; every new row is checked.
      await sql.unsafe(
        `ALTER TABLE audit_events ADD CONSTRAINT audit_test_refuses CHECK (action <> '${action}') NOT VALID`,
      );
    };
    const dropCheck = () => sql.unsafe('ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_test_refuses');
    t.teardown(dropCheck);

    // key.created
    await addCheck('key.created');
    const create = await recorded(() => inject(app, { method: 'POST', url: '/v1/keys', cookie: user.cookie }));
    t.comment(`create with a failing audit insert: ${create.result.statusCode} ${create.result.json().error?.code}`);
    t.ok(create.result.statusCode >= 500, `the create fails (${create.result.statusCode})`);
    t.equal(await countRows('api_keys', user.accountId), 0, 'no api_keys row exists for it');
    t.same(create.rows, [], 'no record');
    await dropCheck();
    const listed = await inject(app, { url: '/v1/keys', cookie: user.cookie });
    t.same(listed.json().keys, [], 'GET /v1/keys shows no key');
    const key = await createKey(app, user.cookie, 'after');
    t.equal(await countRows('api_keys', user.accountId), 1, 'with the constraint gone, the same create works');

    // key.revoked
    await addCheck('key.revoked');
    t.equal((await callMe(app, key.apiKey)).statusCode, 200);
    const eventsBefore = await countRows('key_events', user.accountId);
    const revoke = await recorded(() =>
      inject(app, { method: 'DELETE', url: `/v1/keys/${key.keyId}`, cookie: user.cookie }),
    );
    t.comment(`revoke with a failing audit insert: ${revoke.result.statusCode} ${revoke.result.json().error?.code}`);
    t.ok(revoke.result.statusCode >= 500, `the revoke fails (${revoke.result.statusCode})`);
    const [row] = await sql`SELECT slot, revoked_at FROM api_keys WHERE id = ${key.keyId}`;
    t.ok(row!.slot !== null && row!.revoked_at === null, 'the key is still active in Postgres');
    t.equal(await countRows('key_events', user.accountId), eventsBefore, 'no key event was written');
    t.same(revoke.rows, [], 'no record');
    t.equal((await callMe(app, key.apiKey)).statusCode, 200, 'and the key still works');
    await dropCheck();
    t.equal(
      (await inject(app, { method: 'DELETE', url: `/v1/keys/${key.keyId}`, cookie: user.cookie })).statusCode,
      200,
    );
    t.equal((await callMe(app, key.apiKey)).statusCode, 401, 'revoked once the record can be written');

    // session.created (sign-in)
    await addCheck('session.created');
    const sessionsBefore = await countRows('sessions', user.accountId);
    const login = await recorded(() =>
      inject(app, { method: 'POST', url: '/v1/login', payload: { email: user.email, password: user.password } }),
    );
    t.ok(login.result.statusCode >= 500, `the sign-in fails (${login.result.statusCode})`);
    t.equal(login.result.cookies.length, 0, 'no session cookie');
    t.equal(await countRows('sessions', user.accountId), sessionsBefore, 'no session row');
    t.same(login.rows, [], 'no record');
    await dropCheck();
  });

  t.test('pagination: newest first, every event once, ending with a null cursor', async (t) => {
    const user = await signUp(app, 'Paged');
    for (let i = 0; i < 12; i++) {
      const key = await createKey(app, user.cookie, `k${i}`);
      const revoke = await inject(app, { method: 'DELETE', url: `/v1/keys/${key.keyId}`, cookie: user.cookie });
      t.equal(revoke.statusCode, 200);
    }
    for (let i = 0; i < 5; i++) {
      const failed = await inject(app, {
        method: 'POST',
        url: '/v1/login',
        payload: { email: user.email, password: 'wrong password' },
      });
      t.equal(failed.statusCode, 401);
    }
    const all = await sql<{ id: number }[]>`
      SELECT id::int AS id FROM audit_events WHERE account_id = ${user.accountId} ORDER BY id DESC`;
    const expected = all.map((row) => String(row.id));
    t.equal(expected.length, 2 + 24 + 5, '31 events');

    const walk = async (limit: number) => {
      const pages: AuditEventView[][] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const body = await auditOf(user.cookie, `limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`);
        pages.push(body.events);
        cursor = body.nextCursor;
        if (cursor === null) return pages;
      }
      throw new Error('the cursor never ended');
    };
    for (const limit of [10, 1, 30, 31, 200]) {
      const pages = await walk(limit);
      const events = pages.flat();
      t.same(
        events.map((event) => event.id),
        expected,
        `limit ${limit}: every event exactly once, newest first`,
      );
      t.same(
        pages.map((page) => page.length),
        Array.from({ length: Math.ceil(31 / limit) }, (_, i) => Math.min(limit, 31 - i * limit)),
        `limit ${limit}: full pages, then the rest, and no empty last page`,
      );
      const times = events.map((event) => Date.parse(event.at));
      t.ok(
        times.every((time, i) => i === 0 || time <= times[i - 1]!),
        `limit ${limit}: times never increase`,
      );
    }

    const first = await auditOf(user.cookie, 'limit=10');
    t.type(first.nextCursor, 'string');
    const bad = [
      'cursor=!!!',
      'cursor=' + 'A'.repeat(33),
      'cursor=abc',
      `cursor=${Buffer.from('0').toString('base64url')}`,
      `cursor=${Buffer.from('-5').toString('base64url')}`,
      `cursor=${Buffer.from('1.5').toString('base64url')}`,
      `cursor=${Buffer.from('99999999999999999999').toString('base64url')}`,
      'cursor=',
      'limit=0',
      'limit=201',
      'limit=-1',
      'limit=ten',
      'limit=10&extra=1',
    ];
    for (const query of bad) {
      const response = await inject(app, { url: `/v1/audit?${query}`, cookie: user.cookie });
      t.equal(response.statusCode, 400, `${query}: 400`);
      t.equal(response.json().error?.code, 'invalid_request');
    }
    t.equal((await inject(app, { url: '/v1/audit' })).statusCode, 401, 'no session: 401');

    // The cursor is a position, not a capability: another account's cursor shows only its own events.
    const other = await signUp(app, 'Other');
    const otherView = await auditOf(other.cookie, `limit=200&cursor=${first.nextCursor}`);
    t.same(otherView.events, [], "another account's cursor: nothing of this account");
  });

  t.test('another account sees none of it', async (t) => {
    const other = await signUp(app, 'Isolated');
    // A failed sign-in with the first account's email is the first account's business only.
    await inject(app, { method: 'POST', url: '/v1/login', payload: { email, password: 'guess guess guess' } });
    const view = await auditOf(other.cookie);
    t.same(
      view.events.map((event) => [event.action, event.actor, event.keyId]),
      [
        ['session.created', other.email, null],
        ['account.created', other.email, null],
      ],
      'only its own sign-up',
    );
    const [row] = await sql`
      SELECT count(*)::int AS count FROM audit_events WHERE account_id = ${other.accountId}`;
    t.equal(row!.count, 2);
    const text = JSON.stringify(view);
    for (const secret of [email, unknownEmail, ...Object.values(keys)]) {
      t.notOk(text.includes(secret), `nothing about ${secret}`);
    }
    const [unknownRows] = await sql`
      SELECT count(*)::int AS count FROM audit_events WHERE account_id IS NULL AND details->>'email' = ${unknownEmail}`;
    t.equal(unknownRows!.count, 2, 'the unknown email is recorded for each attempt, with no account');
    const mine = await auditOf(cookie);
    t.notOk(JSON.stringify(mine).includes(unknownEmail), 'and no account sees it');
    t.equal(
      mine.events.filter((event) => event.action === 'session.failed').length,
      2,
      "both failed sign-ins with the first account's email are in its own log",
    );
  });
});
