/**
 * Issue #15, classes 2 and 6: JSON that Postgres cannot store (a lone UTF-16 surrogate) is a 400 at the edge,
 * never a 500; a body that is not JSON is a 415, never parsed. Over a real socket, with the database checked
 * to be unchanged after every refusal.
 */
import t, { type Test } from 'tap';
import { buildTestApp, createKey, signUp } from '../support/app.js';
import { DatabaseFingerprint, diff, FAILED_LOGIN_AUDIT } from '../support/database-fingerprint.js';
import { envelopeProblem, errorOf } from '../support/http.js';

async function listening(t: Test) {
  const built = await buildTestApp(t);
  await built.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = built.app.server.address() as { port: number };
  return { ...built, baseUrl: `http://127.0.0.1:${port}` };
}

async function post(url: string, body: string, headers: Record<string, string>) {
  const response = await fetch(url, { method: 'POST', headers, body });
  return {
    statusCode: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  };
}

/** A JSON text whose `field` holds `raw` exactly as written (so `\ud800` stays an escape, not a character). */
const withRaw = (fields: Record<string, string>, field: string, raw: string) =>
  `{${Object.entries({ ...fields, [field]: '\u0000' })
    .map(([name, value]) => `${JSON.stringify(name)}:${value === '\u0000' ? `"${raw}"` : JSON.stringify(value)}`)
    .join(',')}}`;

const LONE_SURROGATES = ['\\ud800', '\\udfff', 'name \\udc00', '\\ud800\\ud800', '\\ude00\\ud83d', 'x\\ud83d'];

t.test('a lone surrogate in any text field is a 400 in the envelope, and stores nothing', async (t) => {
  const { app, baseUrl, databaseUrl } = await listening(t);
  const fingerprint = new DatabaseFingerprint(databaseUrl!);
  t.teardown(() => fingerprint.close());
  const user = await signUp(app, 'Surrogates');
  const { keyId } = await createKey(app, user.cookie, 'first');
  const session = { 'content-type': 'application/json', cookie: user.cookie };
  const signup = { email: 'new@example.com', password: 'correct horse battery', accountName: 'Acme' };
  const targets: Array<{
    what: string;
    path: string;
    fields: Record<string, string>;
    field: string;
    allowed?: string[];
  }> = [
    { what: 'key name', path: '/v1/keys', fields: {}, field: 'name' },
    { what: 'rotate name', path: `/v1/keys/${keyId}/rotate`, fields: {}, field: 'name' },
    { what: 'sign-up email', path: '/v1/signup', fields: signup, field: 'email' },
    { what: 'sign-up password', path: '/v1/signup', fields: signup, field: 'password' },
    { what: 'sign-up account name', path: '/v1/signup', fields: signup, field: 'accountName' },
    {
      what: 'sign-in email',
      path: '/v1/login',
      fields: { password: 'x' },
      field: 'email',
      allowed: [FAILED_LOGIN_AUDIT],
    },
    { what: 'sign-in password', path: '/v1/login', fields: { email: user.email }, field: 'password' },
  ];
  for (const target of targets) {
    for (const raw of LONE_SURROGATES) {
      const before = await fingerprint.take();
      const response = await post(`${baseUrl}${target.path}`, withRaw(target.fields, target.field, raw), session);
      t.equal(response.statusCode, 400, `${target.what} "${raw}": 400`);
      t.equal(envelopeProblem(response), undefined, `${target.what} "${raw}": envelope`);
      t.equal(errorOf(response).code, 'invalid_request');
      t.same(diff(before, await fingerprint.take(), target.allowed), [], `${target.what} "${raw}": nothing stored`);
    }
  }
  const before = await fingerprint.take();
  const asName = await post(`${baseUrl}/v1/keys`, '{"name":"ok","\\ud800":"x"}', session);
  t.equal(asName.statusCode, 400, 'a lone surrogate in a property name: 400');
  const nested = await post(`${baseUrl}/v1/keys`, '{"name":["\\ud800"]}', session);
  t.equal(nested.statusCode, 400, 'in a nested value: 400');
  t.same(diff(before, await fingerprint.take()), [], 'nothing stored');

  // Regression: the surrogate check once recursed, and a 16 KiB body nested 8000 deep overflowed the stack (500).
  for (const deep of ['['.repeat(8000) + ']'.repeat(8000), '{"a":'.repeat(2500) + '"\\ud800"' + '}'.repeat(2500)]) {
    const response = await post(`${baseUrl}/v1/keys`, deep, session);
    t.equal(response.statusCode, 400, `nested ${deep.length} characters deep: 400, not a stack overflow`);
  }

  const paired = await post(`${baseUrl}/v1/signup`, withRaw(signup, 'accountName', 'Caf\\u00e9 \\ud83d\\ude00'), {
    'content-type': 'application/json',
  });
  t.equal(paired.statusCode, 201, 'a well-formed pair (an emoji) is text like any other');
  t.equal(JSON.parse(paired.body).account.name, 'Café 😀', 'and stored as sent');

  for (const url of [`/v1/keys/${keyId}/usage?minutes=%ED%A0%80`, '/v1/audit?cursor=%ED%A0%80', '/v1/keys/%ED%A0%80']) {
    const response = await fetch(`${baseUrl}${url}`, { headers: { cookie: user.cookie } });
    t.ok(response.status >= 400 && response.status < 500, `${url}: ${response.status}, a 4xx`);
  }
});

t.test('a body that is not JSON is a 415 in the envelope, whatever it holds', async (t) => {
  const { app, baseUrl, databaseUrl } = await listening(t);
  const fingerprint = new DatabaseFingerprint(databaseUrl!);
  t.teardown(() => fingerprint.close());
  const user = await signUp(app, 'Media');
  const json = JSON.stringify({ name: 'sneaky' });
  const signupJson = JSON.stringify({
    email: 'plain@example.com',
    password: 'correct horse battery',
    accountName: 'X',
  });
  const cases: Array<[string, string, string, string]> = [
    ['/v1/keys', 'text/plain', json, 'JSON sent as text/plain'],
    ['/v1/keys', 'text/plain; charset=utf-8', json, 'text/plain with a charset'],
    ['/v1/keys', 'text/html', '<b>x</b>', 'HTML'],
    ['/v1/keys', 'application/x-www-form-urlencoded', 'name=sneaky', 'a form'],
    [
      '/v1/keys',
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\ny\r\n--x--',
      'multipart',
    ],
    ['/v1/keys', 'application/xml', '<name>x</name>', 'XML'],
    ['/v1/keys', 'application/octet-stream', json, 'bytes'],
    ['/v1/signup', 'text/plain', signupJson, 'a sign-up as text/plain'],
    [
      '/v1/login',
      'text/plain',
      JSON.stringify({ email: user.email, password: user.password }),
      'a sign-in as text/plain',
    ],
  ];
  for (const [path, type, body, what] of cases) {
    const before = await fingerprint.take();
    const response = await post(`${baseUrl}${path}`, body, { 'content-type': type, cookie: user.cookie });
    t.equal(response.statusCode, 415, `${what}: 415`);
    t.equal(envelopeProblem(response), undefined, `${what}: envelope`);
    t.equal(errorOf(response).code, 'unsupported_media_type', `${what}: unsupported_media_type`);
    t.same(diff(before, await fingerprint.take()), [], `${what}: nothing changed`);
  }
  for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
    const response = await post(`${baseUrl}/v1/login`, JSON.stringify({ email: user.email, password: user.password }), {
      'content-type': type,
    });
    t.equal(response.statusCode, 200, `${type}: parsed as JSON`);
  }
});
