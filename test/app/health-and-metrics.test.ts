import t from 'tap';
import { buildTestApp, callMe, createKey, revokeKey, signUp } from '../support/app.js';
import { PrivateRedis } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

t.test('/healthz is alive; /readyz reports each dependency', async (t) => {
  const { app, runtime } = await buildTestApp(t);
  const live = await app.inject({ url: '/healthz' });
  t.equal(live.statusCode, 200);
  t.same(live.json(), { status: 'ok' });

  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), {
    status: 'ready',
    checks: { postgres: 'ok', redis: 'ok', subscription: 'ok', rateLimits: 'ok' },
  });

  runtime.shuttingDown = true;
  const draining = await app.inject({ url: '/readyz' });
  t.equal(draining.statusCode, 503, 'a shutting-down instance is taken out of the load balancer');
  t.equal(draining.json().status, 'unavailable');
  runtime.shuttingDown = false;
});

t.test('/readyz says degraded, still 200, while Redis is down, and ready again after', async (t) => {
  const redis = await PrivateRedis.start(t);
  const { app } = await buildTestApp(t, { env: { REDIS_URL: redis.url } });
  t.equal((await app.inject({ url: '/readyz' })).json().status, 'ready');
  await redis.stop();
  let body: { status: string; checks: Record<string, string> } | undefined;
  for (let i = 0; i < 50; i++) {
    const response = await app.inject({ url: '/readyz' });
    body = response.json();
    if (body!.status === 'degraded') {
      t.equal(response.statusCode, 200, 'degraded instances keep serving: failing them all would be an outage');
      break;
    }
    await sleep(100);
  }
  t.equal(body!.status, 'degraded');
  t.equal(body!.checks.redis, 'failing');
  t.equal(body!.checks.postgres, 'ok');
  await redis.restart();
  let status = '';
  // A bound for a hang, not a speed check: a busy machine takes a while to reconnect.
  for (let i = 0; i < 300 && status !== 'ready'; i++) {
    status = (await app.inject({ url: '/readyz' })).json().status;
    if (status !== 'ready') await sleep(100);
  }
  t.equal(status, 'ready', 'recovers by itself');
});

t.test('the embedded default reports Redis as not used', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true });
  t.same((await app.inject({ url: '/readyz' })).json().checks, {
    postgres: 'ok',
    redis: 'not used',
    subscription: 'not used',
    rateLimits: 'ok',
  });
});

t.test('/metrics exposes requests, key checks by tier and outcome, cache size and revocation timing', async (t) => {
  const token = 'prometheus-scrape-token-0123456789';
  const { app } = await buildTestApp(t, { env: { KEYWARD_METRICS_TOKEN: token } });
  const user = await signUp(app);
  const key = await createKey(app, user.cookie);
  await callMe(app, key.apiKey); // cold: postgres tier
  await callMe(app, key.apiKey); // hot: memory tier
  await callMe(app, 'nonsense'); // format tier
  await revokeKey(app, user.cookie, key.keyId);

  const response = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/plain/);
  const text = response.body;
  t.match(text, /keyward_key_checks_total\{tier="postgres",outcome="valid"\} 1\n/);
  t.match(text, /keyward_key_checks_total\{tier="memory",outcome="valid"\} 1\n/);
  t.match(text, /keyward_key_checks_total\{tier="format",outcome="invalid"\} 1\n/);
  t.match(text, /keyward_http_requests_total\{route="\/v1\/me",method="GET",status="200"\} 2\n/);
  t.match(text, /keyward_http_requests_total\{route="\/v1\/me",method="GET",status="401"\} 1\n/);
  t.match(text, /keyward_key_check_seconds_count\{tier="postgres"\} 1\n/);
  t.match(text, /keyward_revocation_propagation_seconds_count 1\n/);
  t.match(text, /keyward_key_cache_entries 1\n/);
  t.match(text, /keyward_fleet_state\{state="trusted"\} 1\n/);
  t.match(text, /keyward_postgres_up 1\n/);
  t.notMatch(text, new RegExp(key.apiKey), 'no key in the metrics');
});
