import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import t from 'tap';
import { loadEnv } from '../../src/config/env.js';
import { callMe, createKey, signUp } from '../support/app.js';
import { createFleetServices, fleetInstanceStarter } from '../support/fleet.js';
import { eventually } from '../support/wait.js';

/*
 * Maintenance (issue 4): on every instance, end keys whose scheduled expiry
 * passed and prune what retention no longer keeps; safe on all instances at
 * once.
 */

/** Retention shorter than the defaults, so the test also proves the variables are honoured. */
const RETENTION = {
  KEYWARD_USAGE_MINUTE_RETENTION_HOURS: '24',
  KEYWARD_USAGE_RETENTION_DAYS: '5',
  KEYWARD_AUDIT_RETENTION_DAYS: '10',
  KEYWARD_WEBHOOK_RETENTION_DAYS: '3',
};

const INSTANCE_DEFAULTS = {
  ...RETENTION,
  // Only the test runs maintenance (runOnce), unless a test asks for the timer.
  KEYWARD_MAINTENANCE_INTERVAL_SECONDS: '86400',
  // The old unpublished key event inserted below must not be relayed (published) under the test.
  KEYWARD_RELAY_INTERVAL_MS: '60000',
};

/** An instance of the shared fleet, with this file's settings. */
const startInstance = fleetInstanceStarter(INSTANCE_DEFAULTS);

const NO_PRUNING = {
  usageMinutes: 0,
  usageHours: 0,
  callers: 0,
  rejectedCallers: 0,
  auditEvents: 0,
  usageFlushIds: 0,
  sessions: 0,
  keyEvents: 0,
  webhookDeliveries: 0,
};

t.test('maintenance', async (t) => {
  const shared = await createFleetServices(t);
  const a = await startInstance(t, shared);
  const b = await startInstance(t, shared);
  const sql = postgres(shared.databaseUrl, { max: 3, onnotice: () => {} });
  t.teardown(() => sql.end());

  t.test('prunes what retention no longer keeps, and keeps the rest', async (t) => {
    const user = await signUp(a.app);
    const account = user.accountId;
    const key = 'PruneKey00000001';
    await sql`
      INSERT INTO key_usage (key_id, account_id, granularity, bucket_start, requests) VALUES
        (${key}, ${account}, 'minute', date_trunc('minute', now() - interval '25 hours'), 11),
        (${key}, ${account}, 'minute', date_trunc('minute', now() - interval '23 hours'), 12),
        (${key}, ${account}, 'hour', date_trunc('hour', now() - interval '6 days'), 13),
        (${key}, ${account}, 'hour', date_trunc('hour', now() - interval '4 days'), 14)`;
    await sql`
      INSERT INTO key_callers (key_id, account_id, client_address, user_agent, first_seen_at, last_seen_at, requests)
      VALUES
        (${key}, ${account}, '10.0.0.1', 'old', now() - interval '7 days', now() - interval '6 days', 1),
        (${key}, ${account}, '10.0.0.2', 'recent', now() - interval '7 days', now() - interval '4 days', 2)`;
    await sql`
      INSERT INTO key_rejected_callers
        (key_id, account_id, client_address, user_agent, first_seen_at, last_seen_at, requests)
      VALUES
        (${key}, ${account}, '10.0.0.1', 'old', now() - interval '7 days', now() - interval '6 days', 1),
        (${key}, ${account}, '10.0.0.2', 'recent', now() - interval '7 days', now() - interval '4 days', 2)`;
    await sql`
      INSERT INTO audit_events (account_id, action, details, created_at) VALUES
        (${account}, 'key.created', '{"marker":"old"}', now() - interval '11 days'),
        (${account}, 'key.created', '{"marker":"recent"}', now() - interval '9 days')`;
    await sql`
      INSERT INTO sessions (token_hash, user_id, expires_at) VALUES
        (${'expired-' + randomBytes(8).toString('hex')}, ${user.userId}, now() - interval '1 minute'),
        (${'valid-' + randomBytes(8).toString('hex')}, ${user.userId}, now() + interval '1 hour')`;
    await sql`
      INSERT INTO key_events (key_id, account_id, kind, created_at, published_at) VALUES
        (${key}, ${account}, 'revoked', now() - interval '8 days', now() - interval '8 days'),
        (${key}, ${account}, 'expired', now() - interval '8 days', NULL),
        (${key}, ${account}, 'expiry_scheduled', now() - interval '6 days', now() - interval '6 days')`;

    // Webhook deliveries: ended 4 days ago (pruned), ended 2 days ago (kept), still pending since 5 days (kept).
    const endpoint = randomUUID();
    await sql`
      INSERT INTO webhook_endpoints (id, account_id, url, secret_ciphertext)
      VALUES (${endpoint}, ${account}, 'https://hooks.example.com/k', 'v1.unused')`;
    await sql`
      INSERT INTO webhook_deliveries (endpoint_id, account_id, message_id, event_type, payload, status, created_at, ended_at, next_attempt_at)
      VALUES
        (${endpoint}, ${account}, 'msg_old', 'key.created', '{}', 'delivered', now() - interval '4 days', now() - interval '4 days', now()),
        (${endpoint}, ${account}, 'msg_recent', 'key.created', '{}', 'failed', now() - interval '3 days', now() - interval '2 days', now()),
        (${endpoint}, ${account}, 'msg_pending', 'key.created', '{}', 'pending', now() - interval '5 days', NULL, now() + interval '1 day')`;

    const [oldFlush, recentFlush] = [randomUUID(), randomUUID()];
    await sql`
      INSERT INTO usage_flushes (id, flushed_at) VALUES
        (${oldFlush}, now() - interval '25 hours'), (${recentFlush}, now() - interval '23 hours')`;

    const result = await a.runtime.maintenance.runOnce();
    t.same(
      result,
      {
        expiredKeys: 0,
        expiringNotices: 0,
        pruned: {
          usageMinutes: 1,
          usageHours: 1,
          callers: 1,
          rejectedCallers: 1,
          auditEvents: 1,
          usageFlushIds: 1,
          sessions: 1,
          keyEvents: 1,
          webhookDeliveries: 1,
        },
      },
      'one old row of each kind pruned',
    );

    const webhookDeliveries = await sql`SELECT message_id FROM webhook_deliveries ORDER BY message_id`;
    t.same(
      webhookDeliveries.map((row) => row.message_id),
      ['msg_pending', 'msg_recent'],
      'deliveries that ended more than 3 days ago are gone; pending ones stay',
    );
    const usage = await sql`
      SELECT granularity, requests::int FROM key_usage WHERE key_id = ${key} ORDER BY granularity`;
    t.same(
      usage.map((row) => [row.granularity, row.requests]),
      [
        ['hour', 14],
        ['minute', 12],
      ],
      'usage: minute buckets older than 2 hours and hour buckets older than 5 days are gone',
    );
    const callers = await sql`SELECT user_agent FROM key_callers WHERE key_id = ${key}`;
    t.same(
      callers.map((row) => row.user_agent),
      ['recent'],
      'callers last seen more than 5 days ago are gone',
    );
    const audit = await sql`
      SELECT coalesce(details->>'marker', action) AS what FROM audit_events WHERE account_id = ${account} ORDER BY id`;
    t.same(
      audit.map((row) => row.what),
      ['account.created', 'session.created', 'recent'],
      'audit events older than 10 days are gone; recent ones stay',
    );
    const sessions = await sql`SELECT token_hash FROM sessions WHERE user_id = ${user.userId}`;
    t.equal(sessions.length, 2, 'the expired session is gone; the valid one and the sign-up session stay');
    t.notOk(
      sessions.some((row) => String(row.token_hash).startsWith('expired-')),
      'not the expired one',
    );
    t.equal((await a.app.inject({ url: '/v1/session', headers: { cookie: user.cookie } })).statusCode, 200);
    const flushIds = await sql`SELECT id FROM usage_flushes WHERE id IN (${oldFlush}, ${recentFlush})`;
    t.same(
      flushIds.map((row) => row.id),
      [recentFlush],
      'usage flush ids older than a day are gone (a retry comes within seconds)',
    );
    const events = await sql`SELECT kind, published_at IS NULL AS unpublished FROM key_events WHERE key_id = ${key}`;
    t.same(
      events.map((row) => [row.kind, row.unpublished]).sort(),
      [
        ['expired', true],
        ['expiry_scheduled', false],
      ],
      'published key events older than 7 days are gone; an unpublished one is kept for the relay',
    );

    t.same(
      await b.runtime.maintenance.runOnce(),
      { expiredKeys: 0, expiringNotices: 0, pruned: NO_PRUNING },
      'a second pass: nothing',
    );
  });

  t.test('two instances running it at the same moment: no error, every row pruned once', async (t) => {
    const user = await signUp(a.app);
    const account = user.accountId;
    await sql`
      INSERT INTO key_usage (key_id, account_id, granularity, bucket_start, requests)
      SELECT 'Bulk' || lpad(g::text, 12, '0'), ${account}, 'minute', date_trunc('minute', now() - interval '25 hours'), 1
      FROM generate_series(1, 12000) AS g`;
    await sql`
      INSERT INTO key_usage (key_id, account_id, granularity, bucket_start, requests)
      SELECT 'Bulk' || lpad(g::text, 12, '0'), ${account}, 'hour', date_trunc('hour', now() - interval '6 days'), 1
      FROM generate_series(1, 6000) AS g`;
    await sql`
      INSERT INTO key_callers (key_id, account_id, client_address, user_agent, first_seen_at, last_seen_at, requests)
      SELECT 'Bulk' || lpad(g::text, 12, '0'), ${account}, '10.9.9.9', '', now() - interval '9 days',
             now() - interval '9 days', 1
      FROM generate_series(1, 7000) AS g`;
    await sql`
      INSERT INTO audit_events (account_id, action, created_at)
      SELECT ${account}, 'session.failed', now() - interval '20 days' FROM generate_series(1, 8000)`;
    await sql`
      INSERT INTO key_events (key_id, account_id, kind, created_at, published_at)
      SELECT 'Bulk' || lpad(g::text, 12, '0'), ${account}, 'revoked', now() - interval '9 days', now() - interval '9 days'
      FROM generate_series(1, 5500) AS g`;
    // Three accounts, each with a key whose scheduled expiry has passed and one that stays.
    const due: string[] = [];
    const kept: string[] = [];
    for (let i = 0; i < 3; i++) {
      const owner = await signUp(a.app, `Due ${i}`);
      due.push((await createKey(a.app, owner.cookie, 'due')).keyId);
      kept.push((await createKey(a.app, owner.cookie, 'kept')).keyId);
    }
    await sql`UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = ANY(${due})`;

    const settled = await Promise.allSettled([a.runtime.maintenance.runOnce(), b.runtime.maintenance.runOnce()]);
    const failures = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [String(outcome.reason)] : []));
    t.same(failures, [], 'neither pass failed');
    const results = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    if (results.length !== 2) return;
    t.comment(`passes: ${JSON.stringify(results)}`);
    const total = (name: keyof typeof NO_PRUNING) =>
      (results[0]!.pruned[name] ?? Number.NaN) + (results[1]!.pruned[name] ?? Number.NaN);
    t.same(
      {
        expiredKeys: results[0]!.expiredKeys + results[1]!.expiredKeys,
        usageMinutes: total('usageMinutes'),
        usageHours: total('usageHours'),
        callers: total('callers'),
        auditEvents: total('auditEvents'),
        keyEvents: total('keyEvents'),
      },
      { expiredKeys: 3, usageMinutes: 12000, usageHours: 6000, callers: 7000, auditEvents: 8000, keyEvents: 5500 },
      'between them, every due key ended and every old row pruned exactly once',
    );
    const [left] = await sql`
      SELECT (SELECT count(*)::int FROM key_usage WHERE key_id LIKE 'Bulk%') AS usage,
             (SELECT count(*)::int FROM key_callers WHERE key_id LIKE 'Bulk%') AS callers,
             (SELECT count(*)::int FROM audit_events WHERE account_id = ${account} AND action = 'session.failed') AS audit,
             (SELECT count(*)::int FROM key_events WHERE key_id LIKE 'Bulk%') AS events`;
    t.same(left, { usage: 0, callers: 0, audit: 0, events: 0 }, 'nothing old is left');
    const ended = await sql`
      SELECT k.id, k.slot,
             (SELECT count(*)::int FROM key_events e WHERE e.key_id = k.id AND e.kind = 'expired') AS events,
             (SELECT count(*)::int FROM audit_events e WHERE e.key_id = k.id AND e.action = 'key.expired') AS audits
      FROM api_keys k WHERE k.id = ANY(${due}) ORDER BY k.id`;
    t.same(
      ended.map((row) => [row.slot, row.events, row.audits]),
      due.map(() => [null, 1, 1]),
      'each due key ended once: slot freed, one key event, one audit record',
    );
    const [stillActive] = await sql`
      SELECT count(*)::int AS count FROM api_keys WHERE id = ANY(${kept}) AND slot IS NOT NULL`;
    t.equal(stillActive!.count, 3, 'the other keys are untouched');
    t.same(
      [...a.lines, ...b.lines].filter((line) => /"level":(50|60)/.test(line)),
      [],
      'no error logged',
    );
  });

  t.test('a key whose scheduled expiry passed is ended, recorded and announced', async (t) => {
    const user = await signUp(a.app);
    const old = await createKey(a.app, user.cookie, 'old');
    const other = await createKey(a.app, user.cookie, 'other');
    for (const instance of [a, b]) {
      for (const key of [old, other]) {
        // Twice: the second answer comes from the instance's memory.
        for (let i = 0; i < 2; i++) t.equal((await callMe(instance.app, key.apiKey)).statusCode, 200);
      }
    }
    // The expiry passed while nothing touched the account (set directly: the slot is still taken).
    const [scheduled] = await sql<{ expires_at: Date }[]>`
      UPDATE api_keys SET expires_at = date_trunc('milliseconds', now() - interval '5 minutes')
      WHERE id = ${old.keyId} RETURNING expires_at`;
    const [before] = await sql`SELECT slot FROM api_keys WHERE id = ${old.keyId}`;
    t.not(before!.slot, null, 'the slot is still taken before maintenance');

    const [oldFlush, recentFlush] = [randomUUID(), randomUUID()];
    await sql`
      INSERT INTO usage_flushes (id, flushed_at) VALUES
        (${oldFlush}, now() - interval '25 hours'), (${recentFlush}, now() - interval '23 hours')`;

    const result = await a.runtime.maintenance.runOnce();
    t.equal(result.expiredKeys, 1, 'runOnce ended one key');
    const [row] = await sql`SELECT slot, expires_at, revoked_at FROM api_keys WHERE id = ${old.keyId}`;
    t.equal(row!.slot, null, 'its slot is free');
    t.equal(row!.revoked_at, null, 'expired, not revoked');
    t.equal((row!.expires_at as Date).getTime(), scheduled!.expires_at.getTime(), 'its expiry stays when it was due');
    const events = await sql`SELECT kind, expires_at FROM key_events WHERE key_id = ${old.keyId}`;
    t.same(
      events.map((event) => [event.kind, (event.expires_at as Date).getTime()]),
      [['expired', scheduled!.expires_at.getTime()]],
      "one key event 'expired'",
    );
    const audits = await sql`
      SELECT actor_user_id, actor_email, client_address, user_agent, details FROM audit_events
      WHERE key_id = ${old.keyId} AND action = 'key.expired'`;
    t.same(
      audits.map((audit) => ({ ...audit })),
      [
        {
          actor_user_id: null,
          actor_email: null,
          client_address: null,
          user_agent: null,
          details: { reason: 'expired' },
        },
      ],
      'one audit record key.expired, by the system',
    );
    const view = await a.app.inject({ url: '/v1/audit?limit=1', headers: { cookie: user.cookie } });
    t.match(view.json().events[0], { action: 'key.expired', keyId: old.keyId, actor: null }, 'newest in the log');

    for (const [name, instance] of Object.entries({ a, b })) {
      const refused = await callMe(instance.app, old.apiKey);
      t.equal(refused.json().error?.code, 'api_key_expired', `instance ${name} refuses the expired key`);
      t.equal((await callMe(instance.app, other.apiKey)).statusCode, 200, `instance ${name} accepts the other key`);
    }
    const listed = await a.app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
    t.equal(
      listed.json().keys.find((key: { id: string }) => key.id === old.keyId).status,
      'expired',
      'GET /v1/keys: expired',
    );

    t.equal((await b.runtime.maintenance.runOnce()).expiredKeys, 0, 'the next pass finds nothing');
    const third = await a.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: user.cookie },
      payload: { name: 'third' },
    });
    t.equal(third.statusCode, 201, 'a third key can be created');
    const [counts] = await sql`
      SELECT (SELECT count(*)::int FROM key_events WHERE key_id = ${old.keyId}) AS events,
             (SELECT count(*)::int FROM audit_events WHERE key_id = ${old.keyId} AND action = 'key.expired') AS audits,
             (SELECT count(*)::int FROM api_keys WHERE account_id = ${user.accountId} AND slot IS NOT NULL) AS active`;
    t.same(counts, { events: 1, audits: 1, active: 2 }, 'still one event and one record; two keys active');
  });

  t.test('requestsLast24h is not cut short by pruning minute buckets', async (t) => {
    // Minute buckets are kept at least 24 hours: a shorter retention is refused at start-up.
    t.throws(() => loadEnv({ KEYWARD_USAGE_MINUTE_RETENTION_HOURS: '23' }), /KEYWARD_USAGE_MINUTE_RETENTION_HOURS/);
    const user = await signUp(a.app);
    const key = await createKey(a.app, user.cookie);
    await sql`
      INSERT INTO key_usage (key_id, account_id, granularity, bucket_start, requests) VALUES
        (${key.keyId}, ${user.accountId}, 'minute', date_trunc('minute', now() - interval '23 hours'), 5),
        (${key.keyId}, ${user.accountId}, 'hour', date_trunc('hour', now() - interval '23 hours'), 5)`;
    const requestsLast24h = async () => {
      const response = await a.app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
      return response.json().keys[0].requestsLast24h as number;
    };
    t.equal(await requestsLast24h(), 5, 'before maintenance: 5 requests 23 hours ago');
    await a.runtime.maintenance.runOnce();
    t.equal(await requestsLast24h(), 5, 'after maintenance: still 5 (the requests were within 24 hours)');
  });

  t.test('it runs by itself every KEYWARD_MAINTENANCE_INTERVAL_SECONDS', async (t) => {
    const c = await startInstance(t, shared, { KEYWARD_MAINTENANCE_INTERVAL_SECONDS: '1' });
    const user = await signUp(c.app);
    const key = await createKey(c.app, user.cookie);
    await sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${key.keyId}`;
    await sql`
      INSERT INTO audit_events (account_id, action, details, created_at)
      VALUES (${user.accountId}, 'key.created', '{"marker":"timer"}', now() - interval '30 days')`;
    let state = { slot: 1 as number | null, old: 1 };
    await eventually(
      async () => {
        const [row] = await sql`
          SELECT (SELECT slot FROM api_keys WHERE id = ${key.keyId}) AS slot,
                 (SELECT count(*)::int FROM audit_events WHERE details->>'marker' = 'timer') AS old`;
        state = { slot: row!.slot as number | null, old: row!.old as number };
        return state.slot === null && state.old === 0;
      },
      15_000,
      100,
    );
    t.same(state, { slot: null, old: 0 }, 'the key was ended and the old record pruned without runOnce being called');
    t.same(
      c.lines.filter((line) => /maintenance failed/.test(line)),
      [],
      'no failed pass',
    );
    await c.close();
  });
});
