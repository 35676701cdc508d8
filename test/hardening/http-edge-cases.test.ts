/**
 * Issue #15, class 5: requests at the edges of HTTP/1.1 (no Host, two Hosts, an Expect keyward cannot meet)
 * are answered in the error envelope over a real socket, never with Node's bare answer, and two Hosts are
 * refused as RFC 9112 §3.2 requires, before any key check or change.
 */
import t from 'tap';
import { startKeywardProcess } from '../support/server-process.js';
import { createKeyOver, envelopeProblem, errorOf, rawExchange, signUpOver, type RawAnswer } from '../support/http.js';

function asInjected(answer: RawAnswer) {
  return { statusCode: answer.status ?? 0, headers: answer.headers, body: answer.body };
}

t.test('Host and Expect edge cases answer 4xx in the envelope', async (t) => {
  const server = await startKeywardProcess(t);
  const port = Number(new URL(server.url).port);
  const { cookie } = await signUpOver(server.url, 'edges@example.com');
  const apiKey = await createKeyOver(server.url, cookie);
  const keyBody = '{"name":"via edge"}';
  const post = (headers: string) =>
    `POST /v1/keys HTTP/1.1\r\n${headers}Cookie: ${cookie}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${keyBody.length}\r\nConnection: close\r\n\r\n${keyBody}`;

  const cases: Array<[string, string, number, string]> = [
    [
      'no Host',
      'GET /v1/me HTTP/1.1\r\nx-api-key: ' + apiKey + '\r\nConnection: close\r\n\r\n',
      400,
      'invalid_request',
    ],
    ['no Host, healthz', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'invalid_request'],
    [
      'two Host headers',
      `GET /v1/me HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nx-api-key: ${apiKey}\r\nConnection: close\r\n\r\n`,
      400,
      'invalid_request',
    ],
    [
      'two Host headers, different case',
      `GET /v1/me HTTP/1.1\r\nHost: a.example\r\nhOST: a.example\r\nx-api-key: ${apiKey}\r\nConnection: close\r\n\r\n`,
      400,
      'invalid_request',
    ],
    ['two Host headers on a change', post('Host: a\r\nHost: b\r\n'), 400, 'invalid_request'],
    ['no Host on a change', post(''), 400, 'invalid_request'],
    [
      'Expect: something else',
      'GET /v1/me HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n',
      417,
      'expectation_failed',
    ],
    ['Expect on a change', post('Host: x\r\nExpect: 102-processing\r\n'), 417, 'expectation_failed'],
    ['Expect: gibberish', 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: \x7f\x7f\r\n\r\n', 400, 'invalid_request'],
  ];
  for (const [what, request, status, code] of cases) {
    const answer = await rawExchange(port, [request]);
    t.equal(answer.status, status, `${what}: ${status}`);
    t.equal(envelopeProblem(asInjected(answer)), undefined, `${what}: envelope`);
    if (envelopeProblem(asInjected(answer)) === undefined)
      t.equal(errorOf(asInjected(answer)).code, code, `${what}: ${code}`);
  }
  const keys = await fetch(`${server.url}/v1/keys`, { headers: { cookie } });
  t.equal(((await keys.json()) as { keys: unknown[] }).keys.length, 1, 'no refused change created a key');

  // What stays accepted: HTTP/1.0 without Host (it has none), Expect: 100-continue, one Host with a port.
  const http10 = await rawExchange(port, ['GET /healthz HTTP/1.0\r\n\r\n']);
  t.equal(http10.status, 200, 'HTTP/1.0 without Host is served');
  const withPort = await rawExchange(port, [
    `GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-api-key: ${apiKey}\r\nConnection: close\r\n\r\n`,
  ]);
  t.equal(withPort.status, 200, 'one Host is served');
  const login = JSON.stringify({ email: 'edges@example.com', password: 'correct horse battery' });
  const continued = await rawExchange(port, [
    `POST /v1/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${login.length}\r\nConnection: close\r\n\r\n`,
    login,
  ]);
  t.match(continued.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, 'Expect: 100-continue: 100, then served');
  t.notMatch(server.output(), /"level":(40|50)/, 'nothing logged as a warning or error');
});
