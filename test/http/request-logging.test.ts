import t from 'tap';
import type { Test } from 'tap';
import pino from 'pino';
import { buildApp, LOG_REDACT } from '../../src/app/app.js';
import { loadEnv } from '../../src/config/env.js';
import { openRuntime } from '../../src/app/runtime.js';
import { DASHBOARD_POLLING_ROUTES } from '../../src/http/request-logging.js';
import { callMe, createKey, signUp } from '../support/app.js';
import { TEST_SETTINGS } from '../support/services.js';

/*
 * Issue 28: a first run's log had 3,393 JSON lines in 17 minutes, two per dashboard poll. In development the
 * dashboard's polling is logged at debug; API traffic and failed polls stay at info; production logs all.
 */

interface LogLine {
  level: number;
  msg: string;
  req?: { method: string; url: string };
  res?: { statusCode: number };
  reqId?: string;
}

/** The app on in-memory PGlite, logging at `level` into an array. */
async function appLogging(t: Test, level: string, env: Record<string, string> = {}) {
  const lines: LogLine[] = [];
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) };
  const runtime = await openRuntime(loadEnv({ ...TEST_SETTINGS, ...env }), pino({ level: 'warn' }, stream), {
    inMemory: true,
  });
  const app = await buildApp(runtime, { level, redact: LOG_REDACT, stream });
  t.teardown(async () => {
    await app.close();
    await runtime.close();
  });
  await app.ready();
  /** The level of each of the request's lines ("incoming request", "request completed"). */
  const levelsOf = (reqId: string) =>
    lines
      .filter((line) => line.reqId === reqId && (line.msg === 'incoming request' || line.msg === 'request completed'))
      .map((line) => line.level);
  return { app, lines, levelsOf };
}

const INFO = 30;
const DEBUG = 20;

t.test('in development the dashboard polling is not in the info log; API traffic and failed polls are', async (t) => {
  const { app, levelsOf } = await appLogging(t, 'info');
  const user = await signUp(app);
  const { apiKey, keyId } = await createKey(app, user.cookie, 'production');

  const keys = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  t.equal(keys.statusCode, 200);
  t.same(levelsOf(keys.headers['x-request-id'] as string), [], 'GET /v1/keys: no line at info');
  const usage = await app.inject({
    url: `/v1/keys/${keyId}/usage?minutes=60&hours=1`,
    headers: { cookie: user.cookie },
  });
  t.equal(usage.statusCode, 200);
  t.same(levelsOf(usage.headers['x-request-id'] as string), [], 'GET /v1/keys/:keyId/usage: no line at info');
  const webhooks = await app.inject({ url: '/v1/webhooks', headers: { cookie: user.cookie } });
  t.equal(webhooks.statusCode, 200);
  t.same(levelsOf(webhooks.headers['x-request-id'] as string), [], 'GET /v1/webhooks: no line at info');

  const me = await callMe(app, apiKey);
  t.equal(me.statusCode, 200);
  t.same(levelsOf(me.headers['x-request-id'] as string), [INFO, INFO], 'API traffic: both lines at info');
  const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload: {} });
  t.equal(created.statusCode, 201);
  t.same(levelsOf(created.headers['x-request-id'] as string), [INFO, INFO], 'a change made in the dashboard: at info');

  const signedOut = await app.inject({ url: '/v1/keys' });
  t.equal(signedOut.statusCode, 401);
  t.same(levelsOf(signedOut.headers['x-request-id'] as string), [INFO], 'a poll that fails: its answer at info');

  for (const route of DASHBOARD_POLLING_ROUTES) {
    const [method, url] = route.split(' ') as [string, string];
    t.ok(app.hasRoute({ method: method as 'GET', url }), `${route} is a route of the app (not a stale name)`);
  }
});

t.test('at LOG_LEVEL=debug the polling is logged, with no credential', async (t) => {
  const { app, lines, levelsOf } = await appLogging(t, 'debug');
  const user = await signUp(app);
  const keys = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  t.equal(keys.statusCode, 200);
  const reqId = keys.headers['x-request-id'] as string;
  t.same(levelsOf(reqId), [DEBUG, DEBUG], 'both lines, at debug');
  t.equal(lines.find((line) => line.reqId === reqId)?.req?.url, '/v1/keys');
  t.notMatch(JSON.stringify(lines), user.cookie.split('=')[1]!, 'the session cookie is not logged');
});

t.test('in production every request is logged at info, polling included', async (t) => {
  const { app, levelsOf } = await appLogging(t, 'info', { NODE_ENV: 'production' });
  const user = await signUp(app);
  const keys = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  t.equal(keys.statusCode, 200);
  t.same(levelsOf(keys.headers['x-request-id'] as string), [INFO, INFO]);
});
