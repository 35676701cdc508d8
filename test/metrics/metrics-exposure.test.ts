/**
 * Issue #15, class 10: /metrics (per-route traffic, check outcomes, fleet state) is not public. By default it
 * is not on the API port at all; with KEYWARD_METRICS_TOKEN it is, for bearers of the token only; with
 * KEYWARD_METRICS_PORT it has a listener of its own. Through the real server.
 */
import t from 'tap';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually } from '../support/wait.js';
import { envelopeProblem, errorOf } from '../support/http.js';

const TOKEN = 'scrape-token-4f9c2a7e1b8d3065';

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { statusCode: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

const WRONG_CREDENTIALS: Array<[string, Record<string, string>]> = [
  ['no Authorization', {}],
  ['a wrong token', { authorization: 'Bearer scrape-token-0000000000000000' }],
  ['the token without its last character', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
  ['the token with one more', { authorization: `Bearer ${TOKEN}x` }],
  ['Basic instead of Bearer', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
  ['the token alone', { authorization: TOKEN }],
  ['an empty bearer', { authorization: 'Bearer ' }],
  ['the token in x-api-key', { 'x-api-key': TOKEN }],
];

t.test('by default /metrics is not on the API port', async (t) => {
  const server = await startKeywardProcess(t);
  for (const [what, headers] of [...WRONG_CREDENTIALS, ['any bearer', { authorization: `Bearer ${TOKEN}` }]] as const) {
    const response = await get(`${server.url}/metrics`, headers);
    t.equal(response.statusCode, 404, `${what}: 404`);
    t.equal(envelopeProblem(response), undefined, `${what}: envelope`);
  }
  t.equal((await get(`${server.url}/metrics?format=text`)).statusCode, 404, 'with a query: 404');
  t.equal((await get(`${server.url}/metrics/`)).statusCode, 404, 'with a trailing slash: 404');
});

t.test('with KEYWARD_METRICS_TOKEN: only its bearer reads /metrics on the API port', async (t) => {
  const server = await startKeywardProcess(t, { KEYWARD_METRICS_TOKEN: TOKEN });
  for (const [what, headers] of WRONG_CREDENTIALS) {
    const response = await get(`${server.url}/metrics`, headers);
    t.equal(response.statusCode, 401, `${what}: 401`);
    t.equal(envelopeProblem(response), undefined, `${what}: envelope`);
    t.equal(errorOf(response).code, 'metrics_token_required');
    t.notMatch(response.body, /keyward_/, `${what}: no metric in the answer`);
  }
  for (const scheme of ['Bearer', 'bearer']) {
    const response = await get(`${server.url}/metrics`, { authorization: `${scheme} ${TOKEN}` });
    t.equal(response.statusCode, 200, `${scheme} <token>: 200`);
    t.match(response.body, /keyward_http_requests_total/);
  }
  t.notOk(server.output().includes(TOKEN), 'the token is not logged');
});

t.test('with KEYWARD_METRICS_PORT: a listener of its own, and none on the API port', async (t) => {
  const server = await startKeywardProcess(t, { KEYWARD_METRICS_PORT: '0' });
  t.ok(await eventually(() => /metrics listening at/.test(server.output())), 'the log says where');
  const port = /metrics listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.output())![1];
  const metricsUrl = `http://127.0.0.1:${port}`;
  t.equal((await get(`${server.url}/metrics`)).statusCode, 404, 'not on the API port');
  const scraped = await get(`${metricsUrl}/metrics`);
  t.equal(scraped.statusCode, 200, 'served on its own port');
  t.match(scraped.body, /keyward_key_checks_total/);
  for (const path of ['/', '/v1/me', '/healthz', '/metrics/x']) {
    const other = await get(`${metricsUrl}${path}`);
    t.equal(other.statusCode, 404, `${path} on the metrics port: 404`);
    t.equal(envelopeProblem(other, { header: false }), undefined, `${path}: envelope`);
  }
});

t.test('with both: the metrics port needs the token too', async (t) => {
  const server = await startKeywardProcess(t, { KEYWARD_METRICS_PORT: '0', KEYWARD_METRICS_TOKEN: TOKEN });
  t.ok(await eventually(() => /metrics listening at/.test(server.output())));
  const port = /metrics listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.output())![1];
  for (const [what, headers] of WRONG_CREDENTIALS) {
    t.equal((await get(`http://127.0.0.1:${port}/metrics`, headers)).statusCode, 401, `${what}: 401`);
  }
  const ok = await get(`http://127.0.0.1:${port}/metrics`, { authorization: `Bearer ${TOKEN}` });
  t.equal(ok.statusCode, 200);
});
