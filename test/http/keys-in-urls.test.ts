/**
 * Issue #15, class 1: a careless client that puts its key (or another credential) in the URL gets its 401,
 * and neither the key nor the credential reaches the request log, however it is spelled.
 */
import t from 'tap';
import { urlRedactor } from '../../src/http/log-redaction.js';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually } from '../support/wait.js';
import { createKeyOver, signUpOver } from '../support/http.js';

t.test('a key sent in the URL is answered and never logged, in any spelling', async (t) => {
  const server = await startKeywardProcess(t, { KEYWARD_TRUSTED_PROXY_HOPS: '1' });
  const { cookie } = await signUpOver(server.url, 'url-keys@example.com');
  const apiKey = await createKeyOver(server.url, cookie);
  const [, , secret] = /^kw_([0-9A-Za-z]{16})_([0-9A-Za-z]{39})$/.exec(apiKey)!;
  const encoded = apiKey.replace(/_/g, '%5F');
  const urls = [
    `/v1/me?api_key=${apiKey}`,
    `/v1/me?x-api-key=${apiKey}`,
    `/v1/me?apiKey=${encoded}`,
    `/v1/me?key=${apiKey}&page=2`,
    `/v1/me?q=${encoded}`, // a name that says nothing: the value itself is recognised
    `/v1/me?${apiKey}`, // a bare value
    `/v1/me?${apiKey}=1`, // as a name
    `/v1/me?q=${apiKey.slice(0, -10)}`, // truncated
    `/v1/verify/orders?api_key=${apiKey}`, // forwarded by a proxy's auth_request
    `/v1/verify/${apiKey}/orders`, // in the path
    `/v1/verify/orders?access_token=opaque-bearer-1234&token=t0k3n&password=hunter22&client_secret=s3cr3t`,
    `/v1/me?API_KEY=${apiKey}`,
    `/v1/me?api%5Fkey=${apiKey}`,
    `/v1/me?x=1&x=${apiKey}`,
    `/${apiKey}`, // an unknown route
  ];
  for (const url of urls) {
    const response = await fetch(`${server.url}${url}`, { headers: { 'x-forwarded-for': '198.51.100.7' } });
    t.ok([401, 404].includes(response.status), `${url.slice(0, 40)}… answers ${response.status}`);
  }
  const logged = () => server.output();
  // Each request's "incoming request" line carries its URL; wait until the last one is written.
  t.ok(await eventually(() => (logged().match(/"url":/g) ?? []).length >= urls.length), 'every request logged');
  const log = logged();
  for (const secretText of [
    apiKey,
    encoded,
    secret!,
    secret!.slice(0, 20),
    'opaque-bearer-1234',
    't0k3n',
    'hunter22',
    's3cr3t',
  ]) {
    t.notOk(log.includes(secretText), `${secretText.slice(0, 12)}… is not in the log`);
  }
  t.match(log, /"url":"\/v1\/me\?api_key=\[REDACTED\]"/, 'the log shows where a credential was');
  t.match(log, /"url":"\/v1\/me\?key=\[REDACTED\]&page=2"/, 'and keeps what is harmless');
});

t.test('the redactor: credentials hidden, harmless URLs unchanged', async (t) => {
  const redact = urlRedactor('kw');
  const key = 'kw_4ZbQ0cXw9LmT2pVa_EXAMPLEx0nly0n0tA0real0secret00010BteCL';
  t.equal(redact('/v1/keys/4ZbQ0cXw9LmT2pVa/usage?minutes=60'), '/v1/keys/4ZbQ0cXw9LmT2pVa/usage?minutes=60');
  t.equal(redact('/v1/audit?limit=50&cursor=abc'), '/v1/audit?limit=50&cursor=abc');
  t.equal(redact(`/v1/me?token=${key}`), '/v1/me?token=[REDACTED]');
  t.equal(redact(`/v1/me?q=${encodeURIComponent(key)}`), '/v1/me?q=[REDACTED]');
  t.equal(redact(`/v1/me?q=${key.replace(/_/g, '%5f')}`), '/v1/me?q=[REDACTED]', 'lower-case escapes');
  t.equal(redact(`/v1/me?q=%E0%A4%A${key}`), '/v1/me?q=[REDACTED]', 'a malformed escape next to a key');
  t.equal(redact('/v1/me?Session=abc&sig=def'), '/v1/me?Session=[REDACTED]&sig=[REDACTED]');
  t.equal(redact(`/a/${key}/b?c`), '/a/[REDACTED]/b?c');
  t.equal(redact('/v1/me?'), '/v1/me?');
});
