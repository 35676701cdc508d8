import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import t from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { keywardProcessEnv, startKeywardProcess, startServer, type ServerProcess } from '../support/server-process.js';
import { generateSigningKey, signedHeaders, startGitHubStandIn } from '../support/github-stand-in.js';
import { sleep } from '../support/wait.js';
import { withLastCharacterChanged } from '../support/keys.js';

/*
 * GitHub's secret scanning partner contract, through real processes: two keyward instances (separate
 * processes on one Postgres and Redis) and a local stand-in for GitHub (the only mock: a small HTTP server
 * serving a generated P-256 public key document; reports are signed with node:crypto as GitHub signs them).
 * The report goes to one instance; the leaked key must be refused by the OTHER one on the first request
 * sent after the answer arrived.
 */

const PATH = '/v1/secret-scanning/github';
const TYPE = 'keyward_api_key';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Feedback {
  token_hash: string;
  token_type: string;
  label: string;
}

t.test('GitHub secret scanning reports across a two-instance fleet', async (t) => {
  const github = generateSigningKey(); // GitHub's current key, published by both stand-ins
  const stranger = generateSigningKey(); // a key GitHub never published
  const standIn = await startGitHubStandIn([github]);
  const flakyStandIn = await startGitHubStandIn([github]); // the one the second instance uses; goes down later
  t.teardown(() => Promise.all([standIn.close(), flakyStandIn.close()]));

  // Logged at info (TEST_SETTINGS): the log is also searched for keys.
  const env = await keywardProcessEnv(t, { KEYWARD_FAILED_AUTH_LIMIT: '1000000' });
  const databaseUrl = env.DATABASE_URL!;
  const instances: ServerProcess[] = await Promise.all([
    startServer({ ...env, KEYWARD_GITHUB_KEYS_URL: standIn.url }),
    startServer({ ...env, KEYWARD_GITHUB_KEYS_URL: flakyStandIn.url, KEYWARD_GITHUB_KEYS_CACHE_SECONDS: '1' }),
  ]);
  t.teardown(() => Promise.all(instances.map((instance) => instance.stop('SIGKILL'))));
  const [first, second] = instances as [ServerProcess, ServerProcess];
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end());

  const post = (instance: ServerProcess, body: string, headers: Record<string, string>) =>
    fetch(`${instance.url}${PATH}`, { method: 'POST', headers, body });
  const me = (instance: ServerProcess, apiKey: string) =>
    fetch(`${instance.url}/v1/me`, { headers: { 'x-api-key': apiKey } }).then((response) => response.status);
  const auditCounts = async () =>
    Object.fromEntries(
      (
        await sql<{ action: string; count: number }[]>`
          SELECT action, count(*)::int AS count FROM audit_events GROUP BY action`
      ).map((row) => [row.action, row.count]),
    );

  const signup = await fetch(`${first.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'leak@example.com', password: 'correct horse battery', accountName: 'Leaky' }),
  });
  const cookie = signup.headers.get('set-cookie')!.split(';')[0]!;
  const newKey = async () => {
    const response = await fetch(`${first.url}/v1/keys`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    return (await response.json()) as { apiKey: string; key: { id: string } };
  };
  const listKeys = async () =>
    ((await (await fetch(`${first.url}/v1/keys`, { headers: { cookie } })).json()) as { keys: KeyJson[] }).keys;
  interface KeyJson {
    id: string;
    status: string;
    revocation: null | { reason: string; at: string; leak: null | { url: string; source: string } };
  }

  const active = await newKey();
  const revoked = await newKey();
  t.equal(
    (await fetch(`${first.url}/v1/keys/${revoked.key.id}`, { method: 'DELETE', headers: { cookie } })).status,
    200,
  );
  // A look-alike: a real id and a valid checksum, but not the secret of that key.
  const lookAlike = generateKey('kw', active.key.id).key;
  const badChecksum = withLastCharacterChanged(active.apiKey);

  t.equal(await me(second, active.apiKey), 200, 'the other instance serves the key before the report (cached)');

  const url = 'https://github.com/octocat/Hello-World/blob/1234567/config.js';
  const matches = [
    { token: active.apiKey, type: TYPE, url, source: 'commit' },
    { token: revoked.apiKey, type: TYPE, url: 'https://gist.github.com/octocat/1', source: 'gist_content' },
    { token: lookAlike, type: TYPE, url: '', source: 'issue_comment' },
    { token: badChecksum, type: TYPE, url: '', source: 'content' },
    { token: 'kw_garbage', type: TYPE, url: '', source: 'unknown' },
  ];
  // GitHub's own spacing, verified on the bytes as sent: a re-serialised body would not verify.
  const body = JSON.stringify(matches, null, 1);
  const auditBefore = await auditCounts();

  await t.test('a signed report is answered with feedback, and the leaked key is refused fleet-wide', async (t) => {
    const sentAt = performance.now();
    const response = await post(first, body, signedHeaders(body, github));
    const answeredAt = performance.now();
    const status = await me(second, active.apiKey);
    const refusedAt = performance.now();
    t.equal(response.status, 200);
    t.equal(status, 401, 'the other instance refuses the leaked key on the first request after the answer');
    t.equal(await me(first, active.apiKey), 401, 'and so does the instance that got the report');
    const text = await response.text();
    const feedback = JSON.parse(text) as Feedback[];
    t.same(
      feedback,
      matches.map((match, index) => ({
        token_hash: sha256(match.token),
        token_type: TYPE,
        label: index < 2 ? 'true_positive' : 'false_positive',
      })),
      'one entry per match: real active and real revoked keys are true positives, look-alikes and garbage false',
    );
    for (const match of matches) t.notOk(text.includes(match.token), 'no token is echoed');
    t.comment(
      `report answered in ${(answeredAt - sentAt).toFixed(1)} ms; the other instance's refusal arrived ` +
        `${(refusedAt - answeredAt).toFixed(1)} ms after the answer`,
    );
  });

  await t.test('the audit log and the key list say it leaked, where and by whom it was revoked', async (t) => {
    const rows = await sql<{ action: string; key_id: string; actor_email: string; details: unknown }[]>`
      SELECT action, key_id, actor_email, details FROM audit_events
      WHERE actor_email = 'secret-scanning:github' ORDER BY id`;
    const events = rows.map((row) => `${row.action} ${row.key_id}`);
    t.same(
      [...events].sort(),
      [`key.leaked ${active.key.id}`, `key.revoked ${active.key.id}`, `key.leaked ${revoked.key.id}`].sort(),
      'key.leaked for both real keys, key.revoked only for the one that was active',
    );
    t.ok(events.indexOf(`key.leaked ${active.key.id}`) < events.indexOf(`key.revoked ${active.key.id}`));
    const revokedRow = rows.find((row) => row.action === 'key.revoked')!;
    t.same(revokedRow.details, { reason: 'leaked', url, source: 'commit' });
    t.same(rows.find((row) => row.action === 'key.leaked' && row.key_id === active.key.id)!.details, {
      url,
      source: 'commit',
      type: TYPE,
    });
    const keys = await listKeys();
    const leakedView = keys.find((key) => key.id === active.key.id)!;
    t.equal(leakedView.status, 'revoked');
    t.match(leakedView.revocation, { reason: 'leaked', leak: { url, source: 'commit' } });
    t.match(keys.find((key) => key.id === revoked.key.id)!.revocation, {
      reason: 'revoked',
      leak: { url: 'https://gist.github.com/octocat/1', source: 'gist_content' },
    });
  });

  await t.test('a replayed report changes nothing and is answered the same', async (t) => {
    const auditAfterFirst = await auditCounts();
    t.equal((auditAfterFirst['key.leaked'] ?? 0) - (auditBefore['key.leaked'] ?? 0), 2);
    const [again, meanwhile] = await Promise.all([
      post(first, body, signedHeaders(body, github)),
      post(second, body, signedHeaders(body, github)), // the retry may land on another instance, even at once
    ]);
    t.equal(again.status, 200);
    t.equal(meanwhile.status, 200);
    const expected = matches.map((match, index) => ({
      token_hash: sha256(match.token),
      token_type: TYPE,
      label: index < 2 ? 'true_positive' : 'false_positive',
    }));
    t.same(await again.json(), expected);
    t.same(await meanwhile.json(), expected);
    t.same(await auditCounts(), auditAfterFirst, 'no new audit rows, no second revocation');
  });

  const untouched = await newKey(); // must survive every refused report below
  const refusedBody = JSON.stringify([{ token: untouched.apiKey, type: TYPE, url, source: 'commit' }]);

  await t.test('reports that are not signed by GitHub are refused and revoke nothing', async (t) => {
    const auditBeforeRefusals = await auditCounts();
    const cases: Array<[string, Record<string, string>]> = [
      ['no signature headers', { 'content-type': 'application/json' }],
      ['a signature of another body', signedHeaders('[]', github)],
      ['a signature by a key GitHub never published', signedHeaders(refusedBody, stranger, github.identifier)],
      [
        'a signature that is not base64 DER',
        { ...signedHeaders(refusedBody, github), 'Github-Public-Key-Signature': 'bm9wZQ==' },
      ],
    ];
    for (const [name, headers] of cases) {
      const response = await post(first, refusedBody, headers);
      t.equal(response.status, 401, name);
      t.match(await response.json(), { error: { code: 'signature_invalid', requestId: String } }, name);
    }
    t.equal(await me(second, untouched.apiKey), 200, 'the key in those reports still works');
    t.same(await auditCounts(), auditBeforeRefusals);
  });

  await t.test('an unknown key identifier: one refetch of the key document, then 401', async (t) => {
    const fetchesBefore = standIn.fetches;
    const bogus = () => post(first, refusedBody, signedHeaders(refusedBody, stranger));
    const burst = await Promise.all(Array.from({ length: 20 }, bogus));
    const after = [];
    for (let i = 0; i < 5; i++) after.push(await bogus());
    t.ok(
      [...burst, ...after].every((response) => response.status === 401),
      'every one refused',
    );
    t.equal(standIn.fetches - fetchesBefore, 1, 'one fetch for 25 reports with an unknown identifier');
    t.equal(await me(first, untouched.apiKey), 200);
  });

  await t.test('GitHub down: the last good key set is kept', async (t) => {
    const warm = await post(second, '[]', signedHeaders('[]', github)); // the second instance fetched its set
    t.equal(warm.status, 200);
    t.same(await warm.json(), []);
    await flakyStandIn.close();
    await sleep(1200); // past the second instance's 1 s cache: it tries to refetch and fails
    const leak = JSON.stringify([{ token: untouched.apiKey, type: TYPE, url, source: 'content' }]);
    const response = await post(second, leak, signedHeaders(leak, github));
    t.equal(response.status, 200, 'a report signed with a known key is still verified');
    t.match(await response.json(), [{ label: 'true_positive' }]);
    t.equal(await me(first, untouched.apiKey), 401, 'and the key it reports is refused by the other instance');
  });

  await t.test('no token reached either log', async (t) => {
    for (const instance of instances) {
      const log = instance.output();
      for (const token of [active.apiKey, revoked.apiKey, lookAlike, untouched.apiKey]) {
        t.notOk(log.includes(token), 'no key in the log');
        t.notOk(log.includes(token.slice(-39)), 'no secret in the log');
      }
    }
  });
});

t.test('the endpoint is off unless configured: 404 like any unknown route', async (t) => {
  const instance = await startKeywardProcess(t);
  const response = await fetch(`${instance.url}${PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '[]',
  });
  t.equal(response.status, 404);
  t.match(await response.json(), { error: { code: 'not_found' } });
});
