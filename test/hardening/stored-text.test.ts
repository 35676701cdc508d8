/**
 * Text cut safely everywhere (issue 29): arbitrary Unicode through every route that stores text (sign-up's
 * account name, key names at creation, rotation and rename, the failed sign-in's email, webhook URLs, user
 * agents) never gets a 5xx, and what is stored reads back as well-formed UTF-16 within its bound. The
 * rotation of any key accepted at creation succeeds, with a valid default name.
 */
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import t from 'tap';
import { MAX_USER_AGENT_LENGTH } from '../../src/db/schema.js';
import { keyName, MAX_KEY_NAME_LENGTH } from '../../src/keys/key-names.js';
import { codePointCount } from '../../packages/member/src/cut-text.js';
import { buildTestApp, rotateKey, signUp } from '../support/app.js';

const SEED = 29;
/** Each run signs up, creates, rotates and renames: about 60 ms, so the file stays a few seconds. */
const RUNS = 40;

const EMOJI = ['😀', '👩‍👩‍👧', '🇫🇷', '𝒶', 'é', 'e\u0301'];
/** Names up to the schema's bound in code points, with astral characters and clusters at every position. */
const nameArb = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH, size: 'max' }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH, size: 'max' }),
  // Around the rotation's cut (100 less the 21 of " (rotated 2026-03-09)").
  fc
    .tuple(fc.integer({ min: 70, max: MAX_KEY_NAME_LENGTH - 1 }), fc.constantFrom(...EMOJI))
    .map(([at, emoji]) => ('a'.repeat(at) + emoji + 'b'.repeat(MAX_KEY_NAME_LENGTH)).slice(0, MAX_KEY_NAME_LENGTH)),
  fc.string({ unit: fc.constantFrom('a', ' ', '😀', '\ud800', '\u0000'), minLength: 1, maxLength: 60 }),
);
/** Emails up to 254 code points, many of them longer than 254 code units. */
const emailArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', '😀', '𝒶', '@', '.'), maxLength: 254, size: 'max' }),
  fc.string({ unit: 'grapheme', maxLength: 254, size: 'max' }),
);
/** What a header can carry: printable Latin-1, beyond the stored bound. */
const userAgentArb = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((code) => code !== 0x7f)
    .map((code) => String.fromCharCode(code)),
  maxLength: MAX_USER_AGENT_LENGTH + 100,
});
const pathArb = fc.string({ unit: 'grapheme', maxLength: 200 });

t.test('a key named with 100 code units, an emoji at 78–79, rotated without a name (issue 29)', async (t) => {
  const { app } = await buildTestApp(t);
  const { cookie } = await signUp(app);
  const name = 'a'.repeat(78) + '😀' + 'b'.repeat(20);
  const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie }, payload: { name } });
  t.equal(created.statusCode, 201);
  const rotated = await rotateKey(app, cookie, created.json().key.id);
  t.equal(rotated.statusCode, 201, 'the rotation succeeds (it was 500 internal_error)');
  t.match(rotated.json().key.name, /^a{78}😀 \(rotated \d{4}-\d{2}-\d{2}\)$/);
});

t.test('a failed sign-in with an email of 254 code points but more code units is recorded (issue 29)', async (t) => {
  const { app } = await buildTestApp(t);
  const email = 'a' + '😀'.repeat(200) + '@example.com';
  const login = await app.inject({ method: 'POST', url: '/v1/login', payload: { email, password: 'wrong password!' } });
  t.equal(login.statusCode, 401, 'a 401 (it was 500: the audit detail kept half an emoji)');
});

t.test('arbitrary Unicode through every route that stores text: no 5xx, well-formed and bounded', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  let failures: string[] = [];
  let firstFailures: string[] | undefined;
  const expect = (what: string, status: number, allowed: number[]) => {
    if (!allowed.includes(status)) failures.push(`${what}: ${status}`);
  };

  const details = await fc.check(
    fc.asyncProperty(
      fc.record({
        accountName: nameArb,
        keyName: nameArb,
        rename: nameArb,
        email: emailArb,
        userAgent: userAgentArb,
        path: pathArb,
      }),
      async (input) => {
        failures = [];
        const headers = { 'user-agent': input.userAgent };
        const signup = await app.inject({
          method: 'POST',
          url: '/v1/signup',
          headers,
          payload: {
            email: `u${Math.random().toString(36).slice(2)}@example.com`,
            password: 'correct horse battery',
            accountName: input.accountName,
          },
        });
        expect('sign-up', signup.statusCode, [201, 400]);
        const { cookie } = await signUp(app);

        const created = await app.inject({
          method: 'POST',
          url: '/v1/keys',
          headers: { ...headers, cookie },
          payload: { name: input.keyName },
        });
        expect('create', created.statusCode, [201, 400]);
        if (created.statusCode === 201) {
          const key = created.json().key;
          if (key.name !== keyName(input.keyName)) failures.push(`create: stored ${JSON.stringify(key.name)}`);
          // Any key accepted at creation can be rotated without a name, and gets a valid one.
          const rotated = await app.inject({
            method: 'POST',
            url: `/v1/keys/${key.id}/rotate`,
            headers: { ...headers, cookie },
            payload: {},
          });
          expect('rotate', rotated.statusCode, [201]);
          if (rotated.statusCode === 201) {
            const name: string = rotated.json().key.name;
            if (
              !name.isWellFormed() ||
              codePointCount(name) > MAX_KEY_NAME_LENGTH ||
              !/ \(rotated \d{4}-\d{2}-\d{2}\)$/.test(name)
            ) {
              failures.push(`rotate: named ${JSON.stringify(name)}`);
            }
            const renamed = await app.inject({
              method: 'PATCH',
              url: `/v1/keys/${rotated.json().key.id}`,
              headers: { ...headers, cookie },
              payload: { name: input.rename },
            });
            expect('rename', renamed.statusCode, [200, 400]);
          }
        }
        const login = await app.inject({
          method: 'POST',
          url: '/v1/login',
          headers,
          payload: { email: input.email, password: 'wrong password!' },
        });
        expect('login', login.statusCode, [400, 401, 429]);
        const webhook = await app.inject({
          method: 'POST',
          url: '/v1/webhooks',
          headers: { ...headers, cookie },
          payload: { url: `https://receiver.example/${input.path}` },
        });
        expect('webhook', webhook.statusCode, [201, 400]);
        if (failures.length > 0) firstFailures ??= failures;
        return failures.length === 0;
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  t.notOk(details.failed, `${details.numRuns} runs`, {
    failures: firstFailures,
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });

  // Everything stored reads back well-formed, user agents within their bound.
  const stored = (await runtime.database.db.execute(sql`
    SELECT name AS text, 'key' AS what FROM api_keys
    UNION ALL SELECT name, 'account' FROM accounts
    UNION ALL SELECT url, 'webhook' FROM webhook_endpoints
    UNION ALL SELECT details::text, 'audit details' FROM audit_events WHERE details IS NOT NULL
    UNION ALL SELECT user_agent, 'audit user agent' FROM audit_events WHERE user_agent IS NOT NULL`)) as unknown as Array<{
    text: string;
    what: string;
  }>;
  t.ok(stored.length > RUNS * 3, `${stored.length} stored values`);
  const illFormed = stored.filter(({ text }) => !text.isWellFormed());
  t.same(illFormed, [], 'no stored value is ill-formed');
  const agents = stored.filter(({ what }) => what === 'audit user agent');
  t.ok(agents.length > 0, 'user agents were recorded');
  t.ok(
    agents.every(({ text }) => codePointCount(text) <= MAX_USER_AGENT_LENGTH),
    'user agents within their bound',
  );
  const failedLogins = (await runtime.database.db.execute(
    sql`SELECT details->>'email' AS email FROM audit_events WHERE action = 'session.failed'`,
  )) as unknown as Array<{ email: string }>;
  t.ok(failedLogins.length > 0, 'failed sign-ins were recorded with their email');
});
