import postgres from 'postgres';
import type { KeywardApp } from '../../src/app/app.js';
import t, { type Test } from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { createFleetServices, type FleetInstance, fleetInstanceStarter } from '../support/fleet.js';
import { createKey, revokeKey, signUp } from '../support/app.js';
import { TEST_ARGON2 } from '../support/services.js';
import { startServer } from '../support/server-process.js';
import { eventually } from '../support/wait.js';
import { withLastCharacterChanged } from '../support/keys.js';

/*
 * Usage counting (issue 4): every instance counts valid requests in memory
 * and adds them to Postgres with upserts, so the counts of a fleet sum
 * exactly; a graceful shutdown flushes; a crash loses at most what was
 * counted since the last flush.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

const INSTANCE_DEFAULTS = {
  // Refused requests below come from few addresses: no 429 for them.
  KEYWARD_FAILED_AUTH_LIMIT: '1000000',
};

/** An instance of the shared fleet, with this file's settings. */
const startInstance = fleetInstanceStarter(INSTANCE_DEFAULTS);

function call(app: KeywardApp, apiKey: string, caller: { address: string; agent: string }, url = '/v1/me') {
  return app.inject({
    method: 'GET',
    url,
    remoteAddress: caller.address,
    headers: { 'x-api-key': apiKey, 'user-agent': caller.agent },
  });
}

interface Point {
  start: string;
  requests: number;
}
interface CallerView {
  clientAddress: string;
  userAgent: string | null;
  requests: number;
  firstSeenAt: string;
  lastSeenAt: string;
}
interface UsageView {
  keyId: string;
  lastUsedAt: string | null;
  requestsLast24h: number;
  minutes: Point[];
  hours: Point[];
  callers: CallerView[];
  rejected: {
    lastRejectedAt: string | null;
    requestsLast24h: number;
    minutes: Point[];
    hours: Point[];
    callers: CallerView[];
  };
}
interface KeyView {
  id: string;
  status: string;
  lastUsedAt: string | null;
  requestsLast24h: number;
  lastRejectedAt: string | null;
  rejectedLast24h: number;
}

const sum = (points: { requests: number }[]) => points.reduce((total, point) => total + point.requests, 0);
const pairKey = (address: string, agent: string | null) => `${address} | ${agent}`;

async function usageOf(t: Test, app: KeywardApp, cookie: string, keyId: string, query = 'minutes=60&hours=24') {
  const response = await app.inject({ url: `/v1/keys/${keyId}/usage?${query}`, headers: { cookie } });
  t.equal(response.statusCode, 200, `GET /v1/keys/${keyId}/usage?${query}`);
  return response.json() as UsageView;
}

async function keysOf(app: KeywardApp, cookie: string): Promise<Map<string, KeyView>> {
  const response = await app.inject({ url: '/v1/keys', headers: { cookie } });
  if (response.statusCode !== 200) throw new Error(`GET /v1/keys: ${response.statusCode} ${response.body}`);
  return new Map((response.json().keys as KeyView[]).map((key) => [key.id, key]));
}

/** A series must be zero-filled, oldest first, one bucket apart, ending with the bucket of "now". */
function checkSeries(t: Test, points: Point[], length: number, stepMs: number, nowBefore: number, nowAfter: number) {
  t.equal(points.length, length, `${length} buckets`);
  const starts = points.map((point) => Date.parse(point.start));
  t.ok(
    starts.every((start, i) => i === 0 || start - starts[i - 1]! === stepMs),
    'consecutive buckets, oldest first',
  );
  const last = starts[starts.length - 1]!;
  t.ok(
    last >= Math.floor(nowBefore / stepMs) * stepMs && last <= Math.floor(nowAfter / stepMs) * stepMs,
    'ends with the current bucket',
  );
  t.ok(
    points.every((point) => Number.isInteger(point.requests) && point.requests >= 0),
    'every bucket has a count (zero-filled)',
  );
}

t.test('counts are exact across three instances sharing a database', async (t) => {
  const shared = await createFleetServices(t);
  // No timer flush during the test: the counts reach Postgres only when the test flushes.
  const quiet = { KEYWARD_USAGE_FLUSH_MS: '3600000' };
  const instances = [
    await startInstance(t, shared, quiet),
    await startInstance(t, shared, quiet),
    await startInstance(t, shared, quiet),
  ];
  const [a, b, c] = instances as [FleetInstance, FleetInstance, FleetInstance];
  const sql = postgres(shared.databaseUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end());
  const flushAll = async () => {
    for (const instance of instances) await instance.runtime.keyChecking.usage!.flush();
  };

  const user = await signUp(a.app);
  const startedAt = Date.now();

  // A key used 5 times, then revoked: requests with it afterwards are refused and not counted.
  const retired = await createKey(a.app, user.cookie, 'retired');
  const retiredCaller = { address: '192.0.2.50', agent: 'old-client/0.9' };
  for (let i = 0; i < 5; i++) {
    t.equal((await call(instances[i % 3]!.app, retired.apiKey, retiredCaller)).statusCode, 200);
  }
  const revoke = await revokeKey(b.app, user.cookie, retired.keyId);
  t.equal(revoke.statusCode, 200, 'revoked');
  const revokedAt = Date.now();

  const main = await createKey(a.app, user.cookie, 'main');
  const second = await createKey(b.app, user.cookie, 'second');

  // 90 requests with `main`, unevenly over the instances (45/30/15), from 3 addresses × 3 user agents.
  const N = 90;
  const addresses = ['10.0.0.1', '10.0.0.2', '2001:db8::7'];
  const agents = ['svc-a/1.0', 'svc-b/2.3', 'curl/8.5.0'];
  const expected = new Map<string, number>();
  const plan = Array.from({ length: N }, (_, i) => ({
    instance: i % 6 < 3 ? a : i % 6 < 5 ? b : c,
    caller: { address: addresses[i % 3]!, agent: agents[Math.floor(i / 3) % 3]! },
    // Forward-auth requests count like any other.
    url: i % 4 === 0 ? '/v1/verify' : '/v1/me',
  }));
  t.same(
    [a, b, c].map((instance) => plan.filter((step) => step.instance === instance).length),
    [45, 30, 15],
    'uneven split',
  );
  for (const step of plan) {
    const key = pairKey(step.caller.address, step.caller.agent);
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const served = await Promise.all(plan.map((step) => call(step.instance.app, main.apiKey, step.caller, step.url)));
  t.same(
    served.filter((response) => response.statusCode !== 200 && response.statusCode !== 204).map((r) => r.statusCode),
    [],
    'every request with the main key was served',
  );

  // 17 requests with the second key, one caller, all on C.
  const secondCaller = { address: '10.0.0.9', agent: 'batch-job/4' };
  for (let i = 0; i < 17; i++) t.equal((await call(c.app, second.apiKey, secondCaller)).statusCode, 200);

  // Refused requests are never counted as usage: revoked key, wrong secret for main's key id, malformed key.
  // The revoked key's are counted apart, as rejected calls of that key.
  const wrongSecret = generateKey('kw', main.keyId).key;
  for (const instance of instances) {
    const revoked = await call(instance.app, retired.apiKey, retiredCaller);
    t.equal(revoked.json().error?.code, 'api_key_revoked', 'the revoked key is refused');
    const wrong = await call(instance.app, wrongSecret, { address: addresses[0]!, agent: agents[0]! });
    t.equal(wrong.json().error?.code, 'invalid_api_key', "a wrong secret with main's id is refused");
    const mistyped = withLastCharacterChanged(main.apiKey);
    const malformed = await call(instance.app, mistyped, { address: '10.0.0.1', agent: 'x' });
    t.equal(malformed.statusCode, 401, 'a mistyped key is refused');
  }

  const [before] = await sql`SELECT count(*)::int AS count FROM key_usage`;
  t.equal(before!.count, 0, 'nothing reached Postgres before the flush');

  await flushAll();
  const flushedAt = Date.now();

  const usage = await usageOf(t, c.app, user.cookie, main.keyId);
  checkSeries(t, usage.minutes, 60, MINUTE_MS, startedAt, Date.now());
  checkSeries(t, usage.hours, 24, HOUR_MS, startedAt, Date.now());
  t.equal(sum(usage.minutes), N, 'the minute series sums to exactly N');
  t.equal(sum(usage.hours), N, 'the hour series sums to exactly N');
  t.ok(
    usage.minutes
      .filter((point) => point.requests > 0)
      .every((point) => {
        const start = Date.parse(point.start);
        return start >= Math.floor(startedAt / MINUTE_MS) * MINUTE_MS && start <= flushedAt;
      }),
    'counted in the minute(s) the requests were made',
  );
  t.equal(usage.requestsLast24h, N);
  t.same(
    usage.callers.map((caller) => [pairKey(caller.clientAddress, caller.userAgent), caller.requests]).sort(),
    [...expected.entries()].sort(),
    'callers: exactly the address × user agent pairs used, each with its own count',
  );
  t.equal(sum(usage.callers), N, 'callers sum to N');
  for (const caller of usage.callers) {
    const first = Date.parse(caller.firstSeenAt);
    const last = Date.parse(caller.lastSeenAt);
    t.ok(startedAt <= first && first <= last && last <= flushedAt, `${caller.clientAddress} seen during the test`);
  }
  const lastSeen = Math.max(...usage.callers.map((caller) => Date.parse(caller.lastSeenAt)));
  t.equal(usage.lastUsedAt && Date.parse(usage.lastUsedAt), lastSeen, 'lastUsedAt is the latest request');

  const keys = await keysOf(b.app, user.cookie);
  const mainView = keys.get(main.keyId)!;
  t.equal(mainView.requestsLast24h, N, 'GET /v1/keys: requestsLast24h is N');
  t.ok(mainView.lastUsedAt !== null, 'GET /v1/keys: lastUsedAt is set');
  const lastUsed = Date.parse(mainView.lastUsedAt!);
  t.ok(startedAt <= lastUsed && lastUsed <= flushedAt, 'lastUsedAt is a time of this test');
  t.equal(keys.get(second.keyId)!.requestsLast24h, 17, "the second key's count is its own");
  t.equal(keys.get(retired.keyId)!.requestsLast24h, 5, 'the revoked key: only the requests before the revoke');
  t.ok(Date.parse(keys.get(retired.keyId)!.lastUsedAt!) <= revokedAt, 'and last used before the revoke');

  const secondUsage = await usageOf(t, a.app, user.cookie, second.keyId);
  t.equal(sum(secondUsage.minutes), 17);
  t.equal(sum(secondUsage.hours), 17);
  t.same(
    secondUsage.callers.map((caller) => [caller.clientAddress, caller.userAgent, caller.requests]),
    [[secondCaller.address, secondCaller.agent, 17]],
  );
  const retiredUsage = await usageOf(t, a.app, user.cookie, retired.keyId);
  t.equal(sum(retiredUsage.minutes), 5, 'a revoked key keeps its usage history');
  t.same(
    retiredUsage.callers.map((caller) => [caller.clientAddress, caller.userAgent, caller.requests]),
    [[retiredCaller.address, retiredCaller.agent, 5]],
  );
  t.equal(sum(retiredUsage.rejected.minutes), 3, 'its refused calls after the revoke: one per instance');
  t.equal(sum(retiredUsage.rejected.hours), 3);
  t.equal(retiredUsage.rejected.requestsLast24h, 3);
  t.same(
    retiredUsage.rejected.callers.map((caller) => [caller.clientAddress, caller.userAgent, caller.requests]),
    [[retiredCaller.address, retiredCaller.agent, 3]],
    'and who still calls with it',
  );
  const lastRejected = Date.parse(retiredUsage.rejected.lastRejectedAt!);
  t.ok(revokedAt <= lastRejected && lastRejected <= flushedAt, 'lastRejectedAt is after the revoke');
  t.equal(keys.get(retired.keyId)!.rejectedLast24h, 3, 'GET /v1/keys: rejectedLast24h');
  t.equal(keys.get(retired.keyId)!.lastRejectedAt, retiredUsage.rejected.lastRejectedAt);
  for (const active of [mainView, keys.get(second.keyId)!]) {
    t.equal(active.rejectedLast24h, 0, 'a wrong secret for an active key is no rejected call of it');
    t.equal(active.lastRejectedAt, null);
  }
  t.same(usage.rejected.callers, [], "the main key's rejected callers: none");

  const rows = await sql<{ key_id: string; granularity: string; requests: number }[]>`
    SELECT key_id, granularity, sum(requests)::int AS requests FROM key_usage GROUP BY 1, 2 ORDER BY 1, 2`;
  t.same(
    rows.map((row) => [row.key_id, row.granularity, row.requests]).sort(),
    [
      [main.keyId, 'hour', N],
      [main.keyId, 'minute', N],
      [second.keyId, 'hour', 17],
      [second.keyId, 'minute', 17],
      [retired.keyId, 'hour', 5],
      [retired.keyId, 'minute', 5],
    ].sort(),
    'Postgres holds exactly these counts, nothing for refused requests',
  );

  // A second round, flushed by all three at once (and again): upserts add to what is there.
  const M = 30;
  const burst = await Promise.all(
    Array.from({ length: M }, (_, i) =>
      call(instances[i % 3]!.app, i % 2 ? main.apiKey : second.apiKey, { address: addresses[i % 3]!, agent: 'r2' }),
    ),
  );
  t.ok(
    burst.every((response) => response.statusCode === 200),
    'second round served',
  );
  await Promise.all(instances.map((instance) => instance.runtime.keyChecking.usage!.flush()));
  // A flush that failed (e.g. a deadlock between overlapping upserts) keeps its counts for the next one.
  await flushAll();
  const failedFlushes = instances
    .flatMap((instance) => instance.lines)
    .filter((line) => /usage flush failed/.test(line));
  if (failedFlushes.length > 0) t.comment(`overlapping flushes: ${failedFlushes.length} failed and were retried`);
  const after = await keysOf(a.app, user.cookie);
  t.equal(after.get(main.keyId)!.requestsLast24h, N + M / 2, 'main: N + its share of the second round');
  t.equal(after.get(second.keyId)!.requestsLast24h, 17 + M / 2, 'second: 17 + its share');
  const mainAfter = await usageOf(t, b.app, user.cookie, main.keyId);
  t.equal(sum(mainAfter.minutes), N + M / 2);
  t.equal(sum(mainAfter.hours), N + M / 2);
  t.equal(sum(mainAfter.callers), N + M / 2, 'callers still sum to the total');
  t.equal(mainAfter.callers.length, expected.size + 3, 'the new user agent adds one caller per address');
});

t.test('a graceful shutdown flushes what was counted since the last flush', async (t) => {
  const shared = await createFleetServices(t);
  const sql = postgres(shared.databaseUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end());
  // The timer would flush only after an hour: whatever reaches Postgres, the shutdown wrote.
  const instance = await startInstance(t, shared, { KEYWARD_USAGE_FLUSH_MS: '3600000' });
  const user = await signUp(instance.app);
  const key = await createKey(instance.app, user.cookie);

  const M = 23;
  const callers = [
    { address: '198.51.100.1', agent: 'worker/1' },
    { address: '198.51.100.2', agent: 'worker/1' },
  ];
  for (let i = 0; i < M; i++) {
    t.equal((await call(instance.app, key.apiKey, callers[i % 2]!)).statusCode, 200);
  }
  const [pending] = await sql`
    SELECT (SELECT count(*)::int FROM key_usage) AS usage, (SELECT count(*)::int FROM key_callers) AS callers,
           (SELECT last_used_at FROM api_keys WHERE id = ${key.keyId}) AS last_used_at`;
  t.same(pending, { usage: 0, callers: 0, last_used_at: null }, 'still in memory before the shutdown');

  await instance.close();

  const [row] = await sql<{ minute: number; hour: number; callers: number; last_used_at: Date | null }[]>`
    SELECT (SELECT sum(requests)::int FROM key_usage WHERE key_id = ${key.keyId} AND granularity = 'minute') AS minute,
           (SELECT sum(requests)::int FROM key_usage WHERE key_id = ${key.keyId} AND granularity = 'hour') AS hour,
           (SELECT sum(requests)::int FROM key_callers WHERE key_id = ${key.keyId}) AS callers,
           (SELECT last_used_at FROM api_keys WHERE id = ${key.keyId}) AS last_used_at`;
  t.equal(row!.minute, M, 'minute buckets: every request');
  t.equal(row!.hour, M, 'hour buckets: every request');
  t.equal(row!.callers, M, 'callers: every request');
  t.ok(row!.last_used_at instanceof Date, 'last_used_at written');

  // Another instance reads what the closed one wrote.
  const other = await startInstance(t, shared);
  const login = await other.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: user.email, password: user.password },
  });
  const cookie = `keyward_session=${login.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  t.equal((await keysOf(other.app, cookie)).get(key.keyId)!.requestsLast24h, M, 'visible to the rest of the fleet');
});

t.test('a crash (SIGKILL) loses at most the counts since the last flush', async (t) => {
  const shared = await createFleetServices(t);
  const sql = postgres(shared.databaseUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end());
  const FLUSH_MS = 300;
  const server = await startServer({
    ...TEST_ARGON2,
    DATABASE_URL: shared.databaseUrl,
    REDIS_URL: shared.redisUrl,
    REDIS_KEY_PREFIX: shared.redisPrefix,
    KEYWARD_SECRET: shared.secret,
    KEYWARD_COOKIE_SECURE: 'false',
    LOG_LEVEL: 'info',
    KEYWARD_USAGE_FLUSH_MS: String(FLUSH_MS),
  });
  // server.stop() waits for an 'exit' that already happened when the process died of a signal: skip it then.
  t.teardown(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
  });

  const signup = await fetch(`${server.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'crash@example.com', password: 'correct horse battery', accountName: 'Crash' }),
  });
  t.equal(signup.status, 201);
  const cookie = signup.headers.get('set-cookie')!.split(';')[0]!;
  const created = await fetch(`${server.url}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: '{}',
  });
  t.equal(created.status, 201);
  const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };
  const serve = async (count: number) => {
    const statuses = await Promise.all(
      Array.from(
        { length: count },
        async () => (await fetch(`${server.url}/v1/me`, { headers: { 'x-api-key': apiKey } })).status,
      ),
    );
    t.same(
      statuses.filter((status) => status !== 200),
      [],
      `${count} requests served`,
    );
  };
  const persisted = async () => {
    const [row] = await sql<{ minute: number; hour: number }[]>`
      SELECT coalesce(sum(requests) FILTER (WHERE granularity = 'minute'), 0)::int AS minute,
             coalesce(sum(requests) FILTER (WHERE granularity = 'hour'), 0)::int AS hour
      FROM key_usage WHERE key_id = ${key.id}`;
    return row!;
  };

  const N = 40;
  const M = 25;
  await serve(N);
  t.ok(
    await eventually(async () => (await persisted()).minute >= N, 20 * FLUSH_MS),
    'the periodic flush writes the first requests, with no shutdown to trigger it',
  );
  await serve(M);
  const code = await server.stop('SIGKILL');
  t.equal(code, null, 'killed, no graceful shutdown');

  const { minute, hour } = await persisted();
  t.comment(`persisted ${minute} of ${N} + ${M}`);
  t.ok(minute >= N, `what was flushed before the kill stays (${minute} >= ${N})`);
  t.ok(minute <= N + M, `never more than was served (${minute} <= ${N + M})`);
  t.equal(hour, minute, 'hour buckets agree with minute buckets');
  const [row] = await sql`SELECT last_used_at FROM api_keys WHERE id = ${key.id}`;
  t.ok(row!.last_used_at instanceof Date, 'last_used_at was written by the periodic flush');
});

/* Regression tests for bugs found in review: overlapping flushes, the `hours` default, the TimeZone. */

t.test('instances shutting down together (a rolling restart) lose no counts', async (t) => {
  const shared = await createFleetServices(t);
  const sql = postgres(shared.databaseUrl, { max: 3, onnotice: () => {} });
  t.teardown(() => sql.end());
  const quiet = { KEYWARD_USAGE_FLUSH_MS: '3600000' };
  const a = await startInstance(t, shared, quiet);
  const b = await startInstance(t, shared, quiet);
  const user = await signUp(a.app);
  const first = await createKey(a.app, user.cookie, 'first');
  const second = await createKey(a.app, user.cookie, 'second');
  const caller = { address: '10.1.1.1', agent: 'deploy-test' };
  const use = async (instance: FleetInstance, apiKey: string, count: number) => {
    for (let i = 0; i < count; i++) t.equal((await call(instance.app, apiKey, caller)).statusCode, 200);
  };
  // The buckets exist already (one flushed request each), as in any steady state.
  await use(a, first.apiKey, 1);
  await use(a, second.apiKey, 1);
  await a.runtime.keyChecking.usage!.flush();

  // A saw `first` before `second`, B the other way round.
  await use(a, first.apiKey, 3);
  await use(a, second.apiKey, 3);
  await use(b, second.apiKey, 5);
  await use(b, first.apiKey, 5);

  // Both shut down at once. A client holding the `first` minute row for a moment (any concurrent
  // writer does) lines the two flushes up the way overlapping flushes of a busy fleet meet by chance.
  const lockWaiters = (count: number) =>
    eventually(async () => {
      const [row] = await sql`
        SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      return row!.count >= count;
    }, 10_000);
  let closes: Promise<void[]> | undefined;
  await sql.begin(async (tx) => {
    await tx`SELECT requests FROM key_usage WHERE key_id = ${first.keyId} AND granularity = 'minute' FOR UPDATE`;
    const closeA = a.close();
    t.ok(await lockWaiters(1), "A's shutdown flush waits for the row");
    const closeB = b.close();
    t.ok(await lockWaiters(2), "B's shutdown flush waits too");
    closes = Promise.all([closeA, closeB]);
  });
  await closes;

  const failed = [...a.lines, ...b.lines]
    .filter((line) => /usage flush failed/.test(line))
    .map((line) => (/deadlock detected/.test(line) ? 'deadlock detected' : 'other error'));
  t.comment(`failed shutdown flushes: ${JSON.stringify(failed)}`);
  t.same(failed, [], 'no shutdown flush failed');
  const rows = await sql<{ key_id: string; requests: number }[]>`
    SELECT key_id, sum(requests)::int AS requests FROM key_usage WHERE granularity = 'minute' GROUP BY 1`;
  const totals = Object.fromEntries(rows.map((row) => [row.key_id, row.requests]));
  t.comment(`persisted per key: ${JSON.stringify(totals)} (served 9 each)`);
  t.same(totals, { [first.keyId]: 1 + 3 + 5, [second.keyId]: 1 + 3 + 5 }, 'every request counted once');
});

t.test('the usage endpoint answers with its defaults when usage is kept less than 30 days', async (t) => {
  const shared = await createFleetServices(t);
  const instance = await startInstance(t, shared, { KEYWARD_USAGE_RETENTION_DAYS: '7' });
  const user = await signUp(instance.app);
  const key = await createKey(instance.app, user.cookie);
  const explicit = await instance.app.inject({
    url: `/v1/keys/${key.keyId}/usage?hours=168&minutes=60`,
    headers: { cookie: user.cookie },
  });
  t.equal(explicit.statusCode, 200, 'explicit values within the bound work');
  const tooMany = await instance.app.inject({
    url: `/v1/keys/${key.keyId}/usage?hours=169`,
    headers: { cookie: user.cookie },
  });
  t.equal(tooMany.statusCode, 400, 'more hours than are kept: 400');
  const response = await instance.app.inject({ url: `/v1/keys/${key.keyId}/usage`, headers: { cookie: user.cookie } });
  t.comment(`GET /v1/keys/{id}/usage with no query: ${response.statusCode} ${response.body.slice(0, 160)}`);
  t.equal(response.statusCode, 200, 'no query: the defaults are valid');
});

t.test('the hour series counts requests on a database whose TimeZone is not a whole-hour offset', async (t) => {
  const shared = await createFleetServices(t);
  const admin = postgres(shared.databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => admin.end());
  const name = new URL(shared.databaseUrl).pathname.slice(1);
  // A database set to local time (India, +05:30), as some managed Postgres installs are.
  await admin.unsafe(`ALTER DATABASE "${name}" SET timezone = 'Asia/Kolkata'`);
  const instance = await startInstance(t, shared, { KEYWARD_USAGE_FLUSH_MS: '3600000' });
  const user = await signUp(instance.app);
  const key = await createKey(instance.app, user.cookie);
  for (let i = 0; i < 7; i++) {
    t.equal((await call(instance.app, key.apiKey, { address: '10.2.2.2', agent: 'tz' })).statusCode, 200);
  }
  await instance.runtime.keyChecking.usage!.flush();
  const usage = await usageOf(t, instance.app, user.cookie, key.keyId, 'minutes=10&hours=3');
  t.equal(sum(usage.minutes), 7, 'minute series');
  t.equal(usage.requestsLast24h, 7, 'requestsLast24h');
  t.comment(`hour series: ${JSON.stringify(usage.hours)}`);
  t.equal(sum(usage.hours), 7, 'hour series');
  t.ok(
    usage.hours.every((point) => Date.parse(point.start) % HOUR_MS === 0),
    'hour buckets start on the hour',
  );
});
