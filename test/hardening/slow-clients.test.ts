/**
 * Issue #15, classes 3 and 4: a client that gives up mid-body, or sends its body too slowly, is a client
 * fault: 408 (or nothing, when it is gone), logged as such, never a 503 "cannot reach its database" or a
 * warning; and no client holds a connection longer than the HTTP timeouts, or more connections than the cap.
 */
import t, { type Test } from 'tap';
import { buildTestApp, signUp } from '../support/app.js';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually, sleep } from '../support/wait.js';
import { envelopeProblem, errorOf, rawExchange, signUpOver, type RawAnswer } from '../support/http.js';

/** Generous bounds for "answered, not hung": far above the settings, far below Node's defaults. */
const ANSWER_WITHIN_MS = 8000;

async function listening(t: Test, env: Record<string, string>) {
  const built = await buildTestApp(t, { env });
  await built.app.listen({ port: 0, host: '127.0.0.1' });
  return { ...built, port: (built.app.server.address() as { port: number }).port };
}

function postHead(path: string, cookie: string, contentLength: number) {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${contentLength}\r\nCookie: ${cookie}\r\n\r\n`
  );
}

function asInjected(answer: RawAnswer) {
  return { statusCode: answer.status ?? 0, headers: answer.headers, body: answer.body };
}

t.test('a client that closes mid-body is logged as gone, not as a database outage', async (t) => {
  const { app, port, log, runtime } = await listening(t, {});
  const user = await signUp(app, 'Aborts');
  const bodies = ['{"name":"half', '{', '{"name":"x"', '{"email":"a@example.com","password":"correct ho'];
  for (const [index, partial] of bodies.entries()) {
    const path = index === 3 ? '/v1/signup' : '/v1/keys';
    const answer = await rawExchange(port, [postHead(path, user.cookie, 200), partial], { waitMs: 300 });
    t.notOk(answer.status, `${path}: nothing answered while the body is incomplete`);
  }
  t.ok(
    await eventually(() => (log.text().match(/client closed the connection before its request/g) ?? []).length >= 4),
    'each abort logged as the client closing',
  );
  t.notMatch(log.text(), /database unavailable/, 'no "database unavailable" line');
  t.notMatch(log.text(), /"level":(40|50)/, 'no warning or error logged');
  const metrics = await runtime.metrics.registry.metrics();
  t.notMatch(metrics, /status="503"/, 'no 503 in the request metrics');
  t.match(metrics, /keyward_http_requests_total\{route="\/v1\/keys",method="POST",status="499"\} 3/, 'counted as 499');
  const keys = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  t.equal(keys.json().keys.length, 0, 'no key was created');
});

t.test('a body still arriving at the dashboard deadline is a 408, not a 503', async (t) => {
  const { app, port, log, runtime } = await listening(t, { KEYWARD_REQUEST_TIMEOUT_MS: '600' });
  const user = await signUp(app, 'Slow');
  const body = JSON.stringify({ name: 'trickled' });
  for (const [what, chunks] of [
    ['one byte at a time', [postHead('/v1/keys', user.cookie, body.length), ...body.split('')]],
    ['headers, then nothing', [postHead('/v1/keys', user.cookie, body.length)]],
    ['half the body, then nothing', [postHead('/v1/keys', user.cookie, body.length), body.slice(0, 5)]],
  ] as const) {
    const answer = await rawExchange(port, [...chunks], { gapMs: 150, waitMs: ANSWER_WITHIN_MS });
    t.equal(answer.status, 408, `${what}: 408`);
    t.equal(envelopeProblem(asInjected(answer)), undefined, `${what}: envelope`);
    t.equal(errorOf(asInjected(answer)).code, 'request_timeout');
    t.ok(answer.closed, `${what}: the connection is closed`);
  }
  t.notMatch(log.text(), /database unavailable/, 'no "database unavailable" line');
  t.notMatch(log.text(), /"level":(40|50)/, 'no warning or error logged');
  t.match(log.text(), /request body not received before the deadline/);
  t.notMatch(await runtime.metrics.registry.metrics(), /status="503"/, 'no 503 in the request metrics');
  const keys = await app.inject({ url: '/v1/keys', headers: { cookie: user.cookie } });
  t.equal(keys.json().keys.length, 0, 'no key was created');
});

t.test('HTTP timeouts and the connection cap, as settings of the real server', async (t) => {
  const server = await startKeywardProcess(t, {
    KEYWARD_HTTP_HEADERS_TIMEOUT_MS: '500',
    KEYWARD_HTTP_RECEIVE_TIMEOUT_MS: '1000',
    KEYWARD_HTTP_KEEP_ALIVE_TIMEOUT_MS: '500',
    KEYWARD_HTTP_MAX_CONNECTIONS: '4',
  });
  const port = Number(new URL(server.url).port);
  await signUpOver(server.url, 'timeouts@example.com');

  for (const [what, chunks] of [
    ['a half-sent request line', ['GET /v1/me HT']],
    ['a header trickled a byte at a time', 'GET /v1/me HTTP/1.1\r\nHost: x\r\nx-api-key: kw_aaaaaaaa'.split('')],
    ['headers without the blank line', ['GET /healthz HTTP/1.1\r\nHost: x\r\n']],
  ] as const) {
    const answer = await rawExchange(port, [...chunks], { gapMs: 100, waitMs: ANSWER_WITHIN_MS });
    t.equal(answer.status, 408, `${what}: 408`);
    t.equal(envelopeProblem(asInjected(answer)), undefined, `${what}: envelope`);
    t.ok(answer.closed, `${what}: connection closed`);
  }
  // Sign-up's dashboard deadline (10 s) is longer than the receive timeout: the latter bounds its body.
  const trickled = await rawExchange(
    port,
    [
      'POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
      ...'{"a":1',
    ],
    { gapMs: 300, waitMs: ANSWER_WITHIN_MS },
  );
  t.equal(trickled.status, 408, 'a body trickled past the receive timeout: 408');
  t.equal(envelopeProblem(asInjected(trickled)), undefined, 'envelope');
  t.ok(trickled.closed, 'connection closed');
  t.ok(await eventually(() => /request not received in time/.test(server.output())), 'logged as too slow');
  t.notMatch(server.output(), /client closed the connection/, 'not as a client that gave up');

  const idle = await rawExchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { waitMs: ANSWER_WITHIN_MS });
  t.equal(idle.status, 200, 'a keep-alive request is answered');
  t.ok(idle.closed, 'and the idle connection is closed after the keep-alive timeout');

  // The cap: four connections held open (headers pending), the fifth is refused at once.
  const held = [1, 2, 3, 4].map(() => rawExchange(port, ['GET /healthz HTTP/1.1\r\n'], { waitMs: 3000 }));
  await sleep(150);
  const refused = await rawExchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { waitMs: 3000 });
  t.ok(refused.closed && refused.status === undefined, 'a connection over the cap is closed unanswered');
  await Promise.all(held);
  const after = await fetch(`${server.url}/healthz`);
  t.equal(after.status, 200, 'once they are gone, new connections are served');
  t.notMatch(server.output(), /"level":(40|50)/, 'no warning or error logged');
});

t.test('a receive timeout shorter than the headers timeout stops start-up with a message', async (t) => {
  const { buildApp } = await import('../../src/app/app.js');
  const built = await buildTestApp(t);
  const env = { ...built.runtime.env, KEYWARD_HTTP_HEADERS_TIMEOUT_MS: 2000, KEYWARD_HTTP_RECEIVE_TIMEOUT_MS: 1000 };
  await t.rejects(buildApp({ ...built.runtime, env }), /KEYWARD_HTTP_HEADERS_TIMEOUT_MS=2000 must not exceed/);
});
