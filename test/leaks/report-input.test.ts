import t from 'tap';
import { MAX_REPORT_MATCHES, REPORT_BODY_LIMIT_BYTES } from '../../src/leaks/secret-scanning-routes.js';
import { buildTestApp, callMe, createKey, signUp } from '../support/app.js';
import { envelopeProblem } from '../support/http.js';
import { generateSigningKey, signedHeaders, startGitHubStandIn } from '../support/github-stand-in.js';

/*
 * Hostile and careless input to GitHub's secret scanning endpoint, switched on, in-process against the
 * local GitHub stand-in (the only mock: it serves a generated P-256 key document). Every refusal is a 4xx
 * in the error envelope, never a 5xx, and nothing is revoked by a report that is not GitHub's.
 */

const PATH = '/v1/secret-scanning/github';

t.test('GitHub secret scanning endpoint: bad input', async (t) => {
  const github = generateSigningKey();
  const standIn = await startGitHubStandIn([github]);
  t.teardown(() => standIn.close());
  const { app, log } = await buildTestApp(t, { env: { KEYWARD_GITHUB_KEYS_URL: standIn.url } });
  const { cookie } = await signUp(app);
  const { apiKey } = await createKey(app, cookie);
  const post = (payload: string | Buffer, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: PATH, payload, headers });

  await t.test('signed, but not a report: 400 invalid_request', async (t) => {
    const bodies = [
      '{"token":"x"}',
      '[1,2,3]',
      '[{"token":7,"type":"t"}]',
      '[{"type":"t"}]',
      'not json',
      `[{"token":"${apiKey}"`, // cut short: the parser's message would quote the key
      '',
    ];
    for (const body of bodies) {
      const response = await post(body, signedHeaders(body, github));
      t.equal(response.statusCode, 400, body.slice(0, 30));
      t.equal(envelopeProblem(response), undefined);
      t.notOk(response.body.includes(apiKey), 'the body is never quoted back');
    }
    t.equal((await callMe(app, apiKey)).statusCode, 200);
  });

  await t.test(`more than ${MAX_REPORT_MATCHES} matches: 400; over 1 MiB: 413`, async (t) => {
    const many = JSON.stringify(
      Array.from({ length: MAX_REPORT_MATCHES + 1 }, () => ({ token: 'x', type: 't', url: '', source: 'content' })),
    );
    const tooMany = await post(many, signedHeaders(many, github));
    t.equal(tooMany.statusCode, 400);
    t.match(tooMany.json(), { error: { message: /at most 1000 matches/ } });
    const huge = `[${' '.repeat(REPORT_BODY_LIMIT_BYTES)}]`;
    const tooLarge = await post(huge, signedHeaders(huge, github));
    t.equal(tooLarge.statusCode, 413);
    t.equal(envelopeProblem(tooLarge), undefined);
    const large = JSON.stringify([{ token: 'x', type: 't', url: 'u'.repeat(100_000), source: 'content' }]);
    t.equal((await post(large, signedHeaders(large, github))).statusCode, 200, 'a large legal body is served');
  });

  await t.test('headers that are not a signature: 401, nothing revoked', async (t) => {
    const body = JSON.stringify([{ token: apiKey, type: 't', url: '', source: 'content' }]);
    const good = signedHeaders(body, github);
    const variants: Array<Record<string, string>> = [
      { 'content-type': 'application/json' },
      { ...good, 'Github-Public-Key-Signature': '' },
      { ...good, 'Github-Public-Key-Signature': '%%%' },
      { ...good, 'Github-Public-Key-Signature': 'A'.repeat(10_000) },
      { ...good, 'Github-Public-Key-Identifier': '' },
      { ...good, 'Github-Public-Key-Identifier': '../../etc/passwd' },
      { ...good, origin: 'https://evil.example' }, // no CSRF check: the signature decides
    ];
    const statuses = [];
    for (const headers of variants) {
      const response = await post(body, headers);
      statuses.push(response.statusCode);
      if (response.statusCode !== 200) t.equal(envelopeProblem(response), undefined);
    }
    t.same(statuses, [401, 401, 401, 401, 401, 401, 200], 'only the genuine signature is accepted');
    t.equal((await callMe(app, apiKey)).statusCode, 401, 'revoked by the one genuine report');
  });

  await t.test('text Postgres cannot store in url and source is stored cleaned, not a 5xx', async (t) => {
    const { apiKey: another } = await createKey(app, cookie);
    const body = JSON.stringify([{ token: another, type: 't\u0000', url: 'https://x/\u0000\ud800', source: '\udfff' }]);
    const response = await post(body, signedHeaders(body, github));
    t.equal(response.statusCode, 200);
    t.match(response.json(), [{ label: 'true_positive' }]);
  });

  t.notOk(log.text().includes(apiKey), 'no key reached the log');
});
