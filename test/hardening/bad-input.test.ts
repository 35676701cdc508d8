/**
 * Bad input never gets a 5xx, a hang, or anything in: property-based tests (fast-check, fixed seed) over the
 * key parser, the x-api-key header, and every body, path parameter and query string of every route in
 * openapi/openapi.json; plus the refusals whose exact answer matters (identical 401s, 413, 414, 431).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { connect } from 'node:net';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import t, { type Test } from 'tap';
import { BODY_LIMIT_BYTES } from '../../src/app/app.js';
import { generateKey, keyPattern, parseKey } from '../../packages/member/src/key-format.js';
import { buildTestApp, createKey, signUp } from '../support/app.js';
import {
  DatabaseFingerprint,
  diff,
  NO_BACKGROUND_WRITES,
  FAILED_LOGIN_AUDIT,
  rowCount,
} from '../support/database-fingerprint.js';
import { encodeBytes, envelopeProblem, errorOf, objectText, within, type InjectedResponse } from '../support/http.js';
import {
  fillPath,
  loadOperations,
  SAFE_METHODS,
  type JsonSchema,
  type Operation,
} from '../support/openapi-operations.js';

// Every route of the document, many inputs each: more routes take longer than tap's default 120 s on a busy machine.
t.setTimeout(360_000);

const SEED = 20260307;
const REQUEST_TIMEOUT_MS = 5000;
/** Runs per property; chosen so that the file takes well under a minute on 2 cores. */
const PARSER_RUNS = 3000;
const HEADER_RUNS = 2000;
const ROUTE_RUNS = 220;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PREFIX = 'kw';
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
];

let inputsTried = 0;

/** The key format written out independently of src/keys: `<prefix>_<id>_<secret><base62(crc32) in 6>`. */
function wellFormedKey(prefix: string, keyId: string, secret: string): string {
  const body = `${prefix}_${keyId}_${secret}`;
  let checksum = '';
  for (let rest = crc32(body), i = 0; i < 6; i++, rest = Math.floor(rest / 62))
    checksum = ALPHABET[rest % 62] + checksum;
  return body + checksum;
}

const base62 = (length: number) =>
  fc.string({ unit: fc.constantFrom(...ALPHABET.split('')), minLength: length, maxLength: length });
const keyIdArb = base62(16);
const secretArb = base62(33);
const prefixArb = fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/);
/** Any character a header value may carry through inject: controls, DEL, obs-text, ASCII, beyond. */
const headerCharArb = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('\t', ' ', '\x7f', '_', '-', ',', ';', '"'),
  fc.integer({ min: 0x80, max: 0xff }).map((code) => String.fromCharCode(code)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom(...ALPHABET.split('')),
);

type Mutation =
  | { kind: 'change'; at: number; to: string }
  | { kind: 'swap'; at: number; other: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'extend'; suffix: string }
  | { kind: 'delete'; at: number }
  | { kind: 'insert'; at: number; text: string };

/** Near misses of a real key: one character changed, two swapped, truncated, extended, one deleted or added. */
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('change' as const), at: fc.nat(), to: headerCharArb }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), length: fc.nat() }),
  fc.record({
    kind: fc.constant('extend' as const),
    suffix: fc.string({ unit: headerCharArb, minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: headerCharArb }),
);

function mutate(key: string, mutation: Mutation): string {
  const n = key.length;
  switch (mutation.kind) {
    case 'change': {
      const at = mutation.at % n;
      return key.slice(0, at) + mutation.to + key.slice(at + 1);
    }
    case 'swap': {
      const [a, b] = [mutation.at % n, mutation.other % n].sort((x, y) => x - y) as [number, number];
      return key.slice(0, a) + key[b] + key.slice(a + 1, b) + key[a] + key.slice(b + 1);
    }
    case 'truncate':
      return key.slice(0, mutation.length % n);
    case 'extend':
      return key + mutation.suffix;
    case 'delete': {
      const at = mutation.at % n;
      return key.slice(0, at) + key.slice(at + 1);
    }
    case 'insert': {
      const at = mutation.at % (n + 1);
      return key.slice(0, at) + mutation.text + key.slice(at);
    }
  }
}

async function check<Ts extends [unknown, ...unknown[]]>(
  t: Test,
  name: string,
  property: fc.IRawProperty<Ts>,
  numRuns: number,
): Promise<void> {
  const details = await fc.check(property, { seed: SEED, numRuns, includeErrorInReport: true });
  inputsTried += details.numRuns;
  t.notOk(details.failed, `${name} (${details.numRuns} inputs)`, {
    diagnostic: details.failed,
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });
}

t.test('parseKey refuses everything but a well-formed key, without throwing', async (t) => {
  await check(
    t,
    'any string: null, or a key that matches the documented regex and names its own id',
    fc.property(
      fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ unit: headerCharArb })),
      (value) => {
        const parsed = parseKey(value, PREFIX);
        if (parsed === null) return true;
        return keyPattern(PREFIX).test(value) && parsed.fullKey === value && parsed.keyId === value.slice(3, 19);
      },
    ),
    PARSER_RUNS,
  );
  await check(
    t,
    'any value at all (objects, arrays, numbers, huge strings): no throw, null unless a string',
    fc.property(
      fc.oneof(
        fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true }),
        fc.integer({ min: 10_000, max: 1_000_000 }).map((n) => 'k'.repeat(n)),
      ),
      (value) => {
        const parsed = parseKey(value, PREFIX);
        return parsed === null || typeof value === 'string';
      },
    ),
    PARSER_RUNS,
  );
  await check(
    t,
    'a key of any valid prefix parses back to its id; under another prefix it is refused',
    fc.property(prefixArb, prefixArb, keyIdArb, secretArb, (prefix, other, keyId, secret) => {
      const key = wellFormedKey(prefix, keyId, secret);
      if (parseKey(key, prefix)?.keyId !== keyId) return false;
      const generated = generateKey(prefix, keyId).key;
      if (wellFormedKey(prefix, keyId, generated.slice(-39, -6)) !== generated) return false; // same format as src
      return other === prefix || parseKey(key, other) === null;
    }),
    PARSER_RUNS,
  );
  await check(
    t,
    'near misses of a key (changed, swapped, truncated, extended, deleted, inserted) are refused',
    fc.property(keyIdArb, secretArb, mutationArb, (keyId, secret, mutation) => {
      const key = wellFormedKey(PREFIX, keyId, secret);
      const missed = mutate(key, mutation);
      return missed === key ? parseKey(missed, PREFIX) !== null : parseKey(missed, PREFIX) === null;
    }),
    PARSER_RUNS,
  );
});

t.test('requests', async (t) => {
  const { app, runtime, databaseUrl } = await buildTestApp(t, {
    env: {
      ...NO_BACKGROUND_WRITES,
      // The failed-check limit would turn the fuzzed 401s into 429s; it has its own tests. Likewise the
      // per-address sign-in limit, shared by every request of this file (the per-email one stays on).
      KEYWARD_FAILED_AUTH_LIMIT: '1000000',
      KEYWARD_LOGIN_ADDRESS_FAILURE_LIMIT: '1000000',
    },
  });
  const fingerprint = new DatabaseFingerprint(databaseUrl!);
  t.teardown(() => fingerprint.close());
  const operations = loadOperations();
  t.ok(operations.length >= 14, `${operations.length} operations in openapi/openapi.json`);

  const inject = (options: InjectOptions, what: string) =>
    within(app.inject(options), REQUEST_TIMEOUT_MS, what) as Promise<InjectedResponse & { json(): unknown }>;
  /** How GET /v1/account/sessions names the session of a cookie. */
  const sessionIdOf = (cookie: string) => createHash('sha256').update(cookie.split('=')[1]!).digest('hex').slice(0, 16);
  /** A webhook endpoint of the user's, for the routes that name one. */
  const createWebhook = async (cookie: string) => {
    const response = await inject(
      { method: 'POST', url: '/v1/webhooks', headers: { cookie }, payload: { url: 'https://hooks.example.com/k' } },
      'create webhook',
    );
    return (response.json() as { webhook: { id: string } }).webhook.id;
  };

  t.test('x-api-key: every value but a valid key gets the one 401 body; refusals count no usage', async (t) => {
    const owner = await signUp(app, 'Header owner');
    const good = await createKey(app, owner.cookie, 'good');
    const revoked = await createKey(app, owner.cookie, 'revoked');
    await inject({ method: 'DELETE', url: `/v1/keys/${revoked.keyId}`, headers: { cookie: owner.cookie } }, 'revoke');
    const fresh = await createKey(app, owner.cookie, 'fresh');
    const real = { good: good.apiKey, revoked: revoked.apiKey, fresh: fresh.apiKey };
    const baseline = await inject({ method: 'GET', url: '/v1/me' }, 'baseline');
    const invalidBody = { ...errorOf(baseline), requestId: null };
    t.equal(baseline.statusCode, 401);
    t.equal(invalidBody.code, 'invalid_api_key');

    const oneValue: fc.Arbitrary<string> = fc.oneof(
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
      { weight: 3, arbitrary: fc.string({ unit: headerCharArb, maxLength: 200 }) },
      {
        weight: 1,
        arbitrary: fc.tuple(fc.integer({ min: 1000, max: 200_000 }), headerCharArb).map(([n, char]) => char.repeat(n)),
      },
      {
        weight: 6,
        arbitrary: fc
          .tuple(fc.constantFrom('good', 'revoked', 'fresh') as fc.Arbitrary<keyof typeof real>, mutationArb)
          .map(([which, mutation]) => mutate(real[which], mutation)),
      },
      { weight: 2, arbitrary: fc.tuple(keyIdArb, secretArb).map(([id, secret]) => wellFormedKey(PREFIX, id, secret)) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(good.keyId, revoked.keyId, fresh.keyId), secretArb)
          .map(([id, secret]) => wellFormedKey(PREFIX, id, secret)),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom('sk', 'KW', 'kw2', 'k'), fc.constantFrom(good.keyId, fresh.keyId), secretArb)
          .map(([prefix, id, secret]) => wellFormedKey(prefix, id, secret)),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(' ', '\t', 'Bearer ', 'x-api-key: ', '"')
          .chain((wrap) => fc.constantFrom(wrap + good.apiKey, good.apiKey + wrap.trimEnd() + ' ')),
      },
      { weight: 2, arbitrary: fc.constantFrom(good.apiKey, fresh.apiKey, revoked.apiKey) },
    );
    const headerValue = fc.oneof(
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 10, arbitrary: oneValue },
      // Repeated headers: light-my-request joins an array value as Node joins repeated headers ("a, b").
      {
        weight: 2,
        arbitrary: fc.array(fc.oneof(oneValue, fc.constant(good.apiKey)), { minLength: 2, maxLength: 3 }),
      },
    );
    const target = fc.constantFrom(
      { method: 'GET' as const, url: '/v1/me' },
      { method: 'GET' as const, url: '/v1/verify' },
      { method: 'POST' as const, url: '/v1/verify' },
      { method: 'DELETE' as const, url: '/v1/verify/orders/42?x=1' },
      { method: 'OPTIONS' as const, url: '/v1/verify/a' },
    );

    const uses = new Map<string, number>();
    const before = await fingerprint.take();
    await check(
      t,
      'x-api-key fuzz: valid keys pass, the revoked key says so, everything else is the same 401',
      fc.asyncProperty(target, headerValue, async ({ method, url }, value) => {
        const response = await inject(
          { method, url, headers: value === undefined ? {} : { 'x-api-key': value } },
          `${method} ${url} x-api-key=${JSON.stringify(value)?.slice(0, 80)}`,
        );
        const success = url === '/v1/me' ? 200 : 204;
        const whose = typeof value === 'string' && [good.apiKey, fresh.apiKey].includes(value) ? value : undefined;
        if (whose !== undefined) {
          if (response.statusCode !== success) throw new Error(`valid key refused: ${response.statusCode}`);
          const keyId = whose === good.apiKey ? good.keyId : fresh.keyId;
          const seen =
            url === '/v1/me' ? (response.json() as { keyId: string }).keyId : response.headers['x-keyward-key-id'];
          if (seen !== keyId) throw new Error(`authenticated as ${String(seen)}, not ${keyId}`);
          uses.set(keyId, (uses.get(keyId) ?? 0) + 1);
          return;
        }
        if (response.statusCode !== 401) throw new Error(`status ${response.statusCode}: ${response.body}`);
        const problem = envelopeProblem(response);
        if (problem) throw new Error(`not the envelope: ${problem}`);
        const body = { ...errorOf(response), requestId: null };
        if (value === revoked.apiKey) {
          if (body.code !== 'api_key_revoked') throw new Error(`revoked key answered ${body.code}`);
        } else if (JSON.stringify(body) !== JSON.stringify(invalidBody)) {
          throw new Error(`401 body ${JSON.stringify(body)}`);
        }
      }),
      HEADER_RUNS,
    );
    t.same(diff(before, await fingerprint.take()), [], 'no request changed the database');
    t.ok((uses.get(good.keyId) ?? 0) > 0, `the valid key was among the inputs (${uses.get(good.keyId)} times)`);

    await runtime.keyChecking.usage?.flush();
    const counted = await fingerprint.sql<{ key_id: string; requests: number }[]>`
      SELECT key_id, sum(requests)::int AS requests FROM key_usage WHERE granularity = 'minute' AND requests > 0 GROUP BY key_id`;
    t.same(
      Object.fromEntries(counted.map((row) => [row.key_id, row.requests])),
      Object.fromEntries(uses),
      'usage counts exactly the accepted requests: no refused one',
    );
  });

  t.test('every route of the OpenAPI document: 4xx in the envelope or its success, never a 5xx', async (t) => {
    const fuzzer = await signUp(app, 'Fuzzer');
    const foreign = await signUp(app, 'Foreign');
    const foreignKey = await createKey(app, foreign.cookie, 'foreign');
    const foreignRevoked = await createKey(app, foreign.cookie, 'foreign revoked');
    await inject(
      { method: 'DELETE', url: `/v1/keys/${foreignRevoked.keyId}`, headers: { cookie: foreign.cookie } },
      'revoke',
    );
    const foreignIds = [foreignKey.keyId, foreignRevoked.keyId];
    const ownIds = [(await createKey(app, fuzzer.cookie, 'own')).keyId];
    /** Revokes the older of two active keys, or creates one when none is active; returns the active key. */
    const oneActiveKey = async (user: { accountId: string; cookie: string }) => {
      const rows = await fingerprint.sql<{ id: string }[]>`
        SELECT id FROM api_keys WHERE account_id = ${user.accountId} AND slot IS NOT NULL ORDER BY created_at`;
      if (rows.length === 0) {
        const key = await createKey(app, user.cookie, 'refill');
        ownIds.push(key.keyId);
        return { active: key.keyId, changed: true };
      }
      if (rows.length > 1) {
        await inject(
          { method: 'DELETE', url: `/v1/keys/${rows[0]!.id}`, headers: { cookie: user.cookie } },
          'make room',
        );
      }
      return { active: rows[rows.length - 1]!.id, changed: rows.length > 1 };
    };
    let logoutCookie = (await signUp(app, 'Logout')).cookie;
    const hints: Record<string, unknown[]> = {
      email: [fuzzer.email, foreign.email, fuzzer.email.toUpperCase()],
      password: [fuzzer.password],
    };
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).join();
    const histogram = new Map<string, number>();
    const withoutRequestIdHeader = new Set<string>();
    let requests = 0;

    for (const operation of operations) {
      let previous = await fingerprint.take();
      await check(
        t,
        `${operation.method} ${operation.path}`,
        fc.asyncProperty(requestArb(operation, hints), async (request) => {
          requests++;
          // Key changes need a free slot and an active key to work on: keep the fuzzer at one active key.
          let active: string | undefined;
          if (operation.auth === 'session' && (!SAFE_METHODS.has(operation.method) || request.params.keyId)) {
            const before = await oneActiveKey(fuzzer);
            active = before.active;
            if (before.changed) previous = await fingerprint.take();
          }
          const pick = (list: string[], i: number) => list[i % list.length]!;
          const params: Record<string, string> = {};
          for (const [name, choice] of Object.entries(request.params)) {
            params[name] =
              choice.kind === 'own'
                ? choice.index % 2 === 0 && active
                  ? active
                  : pick(ownIds, choice.index)
                : choice.kind === 'foreign'
                  ? pick(foreignIds, choice.index)
                  : choice.text;
          }
          const headers: Record<string, string> = {};
          if (request.requestId !== undefined) headers['x-request-id'] = request.requestId;
          if (request.body.type !== undefined) headers['content-type'] = request.body.type;
          const credential = request.credential;
          if (operation.auth === 'session') {
            const own = operation.operationId === 'logOut' ? logoutCookie : fuzzer.cookie;
            if (credential.kind === 'own') headers.cookie = own;
            if (credential.kind === 'forged') headers.cookie = `keyward_session=${credential.text}`;
            if (credential.kind === 'garbage') headers.cookie = credential.text;
          } else if (operation.auth === 'apiKey') {
            if (credential.kind === 'own') headers['x-api-key'] = foreignKey.apiKey;
            if (credential.kind === 'forged') headers['x-api-key'] = credential.text;
            if (credential.kind === 'garbage') headers['x-api-key'] = credential.text;
          }
          const url = fillPath(operation, params) + request.query;
          const what = `${operation.method} ${url.slice(0, 200)} ${JSON.stringify(headers).slice(0, 200)} body=${request.body.text?.slice(0, 200)}`;
          const response = await inject(
            { method: operation.method as 'GET', url, headers, payload: request.body.text },
            what,
          );

          const status = response.statusCode;
          const code = status >= 400 && !envelopeProblem(response, { header: false }) ? errorOf(response).code : '';
          const bucket = `${operation.operationId} ${status}${code ? ' ' + code : ''}`;
          histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
          const fail = (why: string) => {
            throw new Error(`${why}\n  request: ${what}\n  answer: ${status} ${response.body.slice(0, 300)}`);
          };
          if (status >= 500) fail('5xx');
          const header = response.headers['x-request-id'];
          if (header === undefined) withoutRequestIdHeader.add(`${status} ${code}`);
          // The id the caller can quote: the header, or (when the header is missing) the envelope's.
          const answeredId = String(header ?? (code ? errorOf(response).requestId : ''));
          if (!REQUEST_ID.test(answeredId)) fail(`request id ${JSON.stringify(answeredId)}`);
          if (
            request.requestId !== undefined &&
            REQUEST_ID.test(request.requestId) &&
            answeredId !== request.requestId
          ) {
            fail('a sane x-request-id was not honoured');
          }
          const after = await fingerprint.take();
          if (status >= 400) {
            const problem = envelopeProblem(response, { header: header !== undefined });
            if (problem) fail(`not the error envelope: ${problem}`);
            const refusedLogin = operation.operationId === 'logIn' && (status === 401 || status === 429);
            const changed = diff(previous, after, refusedLogin ? [FAILED_LOGIN_AUDIT] : []);
            if (changed.length > 0) fail(`a refused request changed ${changed.join(', ')}`);
            if (refusedLogin && rowCount(after, FAILED_LOGIN_AUDIT) > rowCount(previous, FAILED_LOGIN_AUDIT) + 1) {
              fail('a refused sign-in recorded more than one failure');
            }
          } else {
            if (!operation.successStatuses.includes(status)) fail(`success status ${status} is not documented`);
            if (operation.auth !== 'none' && credential.kind !== 'own') fail(`accepted without a valid credential`);
            if (Object.values(request.params).some((choice) => choice.kind === 'foreign')) {
              fail("another account's key was reachable");
            }
            const body: { key?: { id: string }; oldKey?: { id: string } } =
              status === 204 ? {} : (response.json() as object);
            for (const key of [body.key, body.oldKey]) if (key && !ownIds.includes(key.id)) ownIds.push(key.id);
          }
          previous = after;
          if (operation.operationId === 'logOut' && status === 204) {
            logoutCookie = (await signUp(app, 'Logout')).cookie;
            previous = await fingerprint.take();
          }
        }),
        ROUTE_RUNS,
      );
    }
    t.equal(Object.getOwnPropertyNames(Object.prototype).join(), prototypeBefore, 'Object.prototype untouched');
    t.equal(({} as Record<string, unknown>).admin, undefined, 'no polluted property');
    const foreignKeys = await inject({ method: 'GET', url: '/v1/keys', headers: { cookie: foreign.cookie } }, 'list');
    t.same(
      (foreignKeys.json() as { keys: Array<{ id: string; status: string }> }).keys.map((key) => [key.id, key.status]),
      [
        [foreignRevoked.keyId, 'revoked'],
        [foreignKey.keyId, 'active'],
      ],
      "the other account's keys are as they were",
    );
    t.same([...withoutRequestIdHeader], [], 'every answer carries x-request-id (README: "on every response")');
    t.comment(`${requests} requests over ${operations.length} operations; answers: ${formatHistogram(histogram)}`);
  });

  t.test('the 401 for unknown, malformed and wrong keys is one body and one set of headers', async (t) => {
    const owner = await signUp(app, 'Same 401');
    const hot = await createKey(app, owner.cookie, 'hot');
    const cold = await createKey(app, owner.cookie, 'cold');
    t.equal((await inject({ url: '/v1/me', headers: { 'x-api-key': hot.apiKey } }, 'warm')).statusCode, 200);
    const otherSecret = (keyId: string) => wellFormedKey(PREFIX, keyId, 'S'.repeat(33));
    const variants: Record<string, string | string[] | undefined> = {
      missing: undefined,
      empty: '',
      malformed: 'not a key',
      'wrong checksum': hot.apiKey.slice(0, -1) + (hot.apiKey.endsWith('A') ? 'B' : 'A'),
      truncated: hot.apiKey.slice(0, -3),
      'other prefix': wellFormedKey('sk', hot.keyId, 'S'.repeat(33)),
      'unknown id (Postgres)': wellFormedKey(PREFIX, 'Z'.repeat(16), 'S'.repeat(33)),
      'unknown id (negative cache)': wellFormedKey(PREFIX, 'Z'.repeat(16), 'T'.repeat(33)),
      'wrong secret, cold key (argon2)': otherSecret(cold.keyId),
      'wrong secret, hot key (in memory)': otherSecret(hot.keyId),
      'repeated header': [hot.apiKey, hot.apiKey],
    };
    for (const url of ['/v1/me', '/v1/verify']) {
      const shapes = new Map<string, string[]>();
      for (const [name, value] of Object.entries(variants)) {
        const response = await inject({ url, headers: value === undefined ? {} : { 'x-api-key': value } }, name);
        t.equal(response.statusCode, 401, `${url} ${name}: 401`);
        t.equal(envelopeProblem(response), undefined, `${url} ${name}: envelope`);
        const headers = Object.entries(response.headers)
          .filter(([header]) => !['x-request-id', 'date'].includes(header))
          .sort(([a], [b]) => a.localeCompare(b));
        const body = envelopeProblem(response) ? response.body : { ...errorOf(response), requestId: null };
        const shape = JSON.stringify({ body, headers });
        shapes.set(shape, [...(shapes.get(shape) ?? []), name]);
      }
      t.equal(
        shapes.size,
        1,
        `${url}: one answer for all (${[...shapes.values()].map((names) => names.join(', ')).join(' | ')})`,
      );
    }
  });

  t.test('bodies over 16 KiB answer 413 and change nothing; at the limit they are served', async (t) => {
    for (const operation of operations.filter((op) => !SAFE_METHODS.has(op.method))) {
      const user = await signUp(app, 'Body limit');
      const key = await createKey(app, user.cookie, 'limited');
      const example = { ...((operation.body?.example as Record<string, unknown> | undefined) ?? {}) };
      if ('email' in example)
        example.email = operation.operationId === 'logIn' ? user.email : `new-${key.keyId}@example.com`;
      if ('password' in example) example.password = user.password;
      const webhookId = operation.path.includes('{webhookId}') ? await createWebhook(user.cookie) : undefined;
      const text = JSON.stringify(example);
      const padded = (size: number) => text.slice(0, -1) + ' '.repeat(size - text.length) + '}';
      const request = (payload: string) =>
        inject(
          {
            method: operation.method as 'POST',
            url: fillPath(operation, {
              keyId: key.keyId,
              sessionId: sessionIdOf(user.cookie),
              ...(webhookId ? { webhookId } : {}),
            }),
            headers: { cookie: user.cookie, 'content-type': 'application/json' },
            payload,
          },
          `${operation.operationId} with ${payload.length} bytes`,
        );
      const before = await fingerprint.take();
      const over = await request(padded(BODY_LIMIT_BYTES + 1));
      t.equal(over.statusCode, 413, `${operation.operationId}: ${BODY_LIMIT_BYTES + 1} bytes → 413`);
      t.equal(envelopeProblem(over), undefined, `${operation.operationId}: envelope`);
      t.equal(errorOf(over).code, 'payload_too_large');
      t.same(diff(before, await fingerprint.take()), [], `${operation.operationId}: nothing changed`);
      const at = await request(padded(BODY_LIMIT_BYTES));
      t.ok(
        operation.successStatuses.includes(at.statusCode),
        `${operation.operationId}: ${BODY_LIMIT_BYTES} bytes served`,
      );
    }
  });

  t.test('a U+0000 in any body string is a 4xx, never a 500, and changes nothing', async (t) => {
    for (const operation of operations.filter((op) => op.body)) {
      for (const [field, schema] of Object.entries(operation.body!.schema.properties ?? {})) {
        if (schema.type !== 'string') continue;
        const user = await signUp(app, 'NUL');
        const key = await createKey(app, user.cookie, 'nul');
        const example = { ...(operation.body!.example as Record<string, string>) };
        if ('email' in example)
          example.email = operation.operationId === 'logIn' ? user.email : `nul-${key.keyId}@example.com`;
        if ('password' in example) example.password = user.password;
        const value = example[field] ?? 'name';
        example[field] = field === 'email' ? value.replace('@', '\u0000@') : `${value}\u0000`;
        const before = await fingerprint.take();
        const response = await inject(
          {
            method: operation.method as 'POST',
            url: fillPath(operation, { keyId: key.keyId }),
            headers: { cookie: user.cookie, 'content-type': 'application/json' },
            payload: JSON.stringify(example),
          },
          `${operation.operationId} ${field} with NUL`,
        );
        const label = `${operation.operationId} ${field}: ${response.statusCode}`;
        t.ok(response.statusCode < 500, label);
        if (response.statusCode >= 400) {
          t.equal(envelopeProblem(response), undefined, `${label}: envelope`);
          const allowed = operation.operationId === 'logIn' ? [FAILED_LOGIN_AUDIT] : [];
          t.same(diff(before, await fingerprint.take(), allowed), [], `${label}: nothing changed`);
        }
      }
    }
  });

  t.test('a path parameter over 100 characters answers 414', async (t) => {
    const user = await signUp(app, 'Long param');
    for (const operation of operations.filter((op) => op.parameters.some((p) => p.in === 'path'))) {
      const before = await fingerprint.take();
      const long = await inject(
        {
          method: operation.method as 'GET',
          url: fillPath(operation, { keyId: 'a'.repeat(101), webhookId: 'a'.repeat(101), sessionId: 'a'.repeat(101) }),
          headers: { cookie: user.cookie, 'content-type': 'application/json' },
          payload: SAFE_METHODS.has(operation.method) ? undefined : '{}',
        },
        'long param',
      );
      t.equal(long.statusCode, 414, `${operation.operationId}: 101 characters → 414`);
      t.equal(envelopeProblem(long, { header: false }), undefined, 'envelope');
      t.equal(long.headers['x-request-id'], errorOf(long).requestId, 'x-request-id header');
      t.equal(errorOf(long).code, 'uri_too_long');
      t.same(diff(before, await fingerprint.take()), [], 'nothing changed');
    }
  });

  t.test('over a real socket: 413 for a streamed body, 431 for headers over the limit', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const user = await signUp(app, 'Socket');

    const send = (options: http.RequestOptions, chunks: string[]) =>
      within(
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
          const request = http.request({ host: '127.0.0.1', port, agent: false, ...options }, (response) => {
            let body = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (body += chunk));
            response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
          });
          // The server may answer and close before the whole body is written: that is the point.
          request.on('error', (error: NodeJS.ErrnoException) =>
            ['EPIPE', 'ECONNRESET'].includes(error.code ?? '') ? undefined : reject(error),
          );
          for (const chunk of chunks) request.write(chunk);
          request.end();
        }),
        REQUEST_TIMEOUT_MS,
        `${options.method} ${options.path}`,
      );
    const asInjected = (response: { status: number; headers: http.IncomingHttpHeaders; body: string }) => ({
      statusCode: response.status,
      headers: response.headers,
      body: response.body,
    });
    const signupBody = (email: string) =>
      JSON.stringify({ email, password: 'correct horse battery', accountName: 'Socket' });

    let before = await fingerprint.take();
    const streamed = await send(
      {
        method: 'POST',
        path: '/v1/signup',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      },
      [signupBody('streamed@example.com').slice(0, -1), ...Array(20).fill(' '.repeat(1024)), '}'],
    );
    t.equal(streamed.status, 413, 'a chunked body without content-length is cut at the limit');
    t.equal(envelopeProblem(asInjected(streamed)), undefined, 'envelope');
    t.same(diff(before, await fingerprint.take()), [], 'no account created');

    const keysBefore = await fingerprint.sql`SELECT count(*)::int AS n FROM api_keys`;
    const declared = await send(
      {
        method: 'POST',
        path: '/v1/keys',
        headers: { cookie: user.cookie, 'content-type': 'application/json', 'content-length': BODY_LIMIT_BYTES + 1 },
      },
      ['{"name":"x"' + ' '.repeat(BODY_LIMIT_BYTES + 1 - 12) + '}'],
    );
    t.equal(declared.status, 413, 'a declared content-length over the limit');
    t.same(await fingerprint.sql`SELECT count(*)::int AS n FROM api_keys`, keysBefore, 'no key created');

    for (const [name, headers] of [
      ['x-api-key', { 'x-api-key': 'k'.repeat(20 * 1024) }],
      ['many headers', Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-pad-${i}`, 'p'.repeat(60)]))],
    ] as const) {
      const tooLarge = await send({ method: 'GET', path: '/v1/me', headers }, []);
      t.equal(tooLarge.status, 431, `${name}: headers over Node's limit → 431`);
      t.equal(envelopeProblem(asInjected(tooLarge)), undefined, `${name}: 431 in the error envelope`);
    }
    before = await fingerprint.take();
    const signupWithHugeHeader = await send(
      {
        method: 'POST',
        path: '/v1/signup',
        headers: { 'content-type': 'application/json', 'x-pad': 'p'.repeat(20 * 1024) },
      },
      [signupBody('huge-header@example.com')],
    );
    t.equal(signupWithHugeHeader.status, 431, 'a sign-up with oversized headers → 431');
    t.same(diff(before, await fingerprint.take()), [], 'no account created');

    // Control characters HTTP forbids in a header value: Node's parser refuses the request before keyward.
    const raw = (text: string) =>
      within(
        new Promise<string>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(text, 'latin1')));
          let out = '';
          socket.setEncoding('latin1');
          socket.on('data', (chunk: string) => (out += chunk));
          socket.on('end', () => resolve(out));
          socket.on('error', reject);
        }),
        REQUEST_TIMEOUT_MS,
        'raw request',
      );
    for (const char of ['\x00', '\x01', '\x7f', '\r']) {
      const answer = await raw(`GET /v1/me HTTP/1.1\r\nHost: x\r\nx-api-key: kw_${char}x\r\nConnection: close\r\n\r\n`);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      const headers = Object.fromEntries(
        head
          .split('\r\n')
          .slice(1)
          .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      t.match(head, /^HTTP\/1\.1 400 /, `x-api-key with ${JSON.stringify(char)}: 400`);
      t.equal(envelopeProblem({ statusCode: 400, headers, body }), undefined, 'in the error envelope');
    }

    const normal = await send({ method: 'GET', path: '/v1/me', headers: { 'x-api-key': 'k'.repeat(8 * 1024) } }, []);
    t.equal(normal.status, 401, 'a large header under the limit is an ordinary 401');
  });

  t.test('inputs tried', async (t) => {
    t.comment(`inputs tried (fast-check runs): ${inputsTried}`);
    t.ok(inputsTried > 0);
  });
});

interface FuzzRequest {
  params: Record<string, { kind: 'own' | 'foreign'; index: number; text: string } | { kind: 'text'; text: string }>;
  query: string;
  body: { text?: string; type?: string };
  credential: { kind: 'own' | 'none' | 'forged' | 'garbage'; text: string };
  requestId?: string;
}

/** A request of an operation: mostly near its schema, with arbitrary JSON, wrong types, deep and huge values. */
function requestArb(operation: Operation, hints: Record<string, unknown[]>): fc.Arbitrary<FuzzRequest> {
  const pathParams = operation.parameters.filter((p) => p.in === 'path');
  const queryParams = operation.parameters.filter((p) => p.in === 'query');
  const params = fc.record(
    Object.fromEntries(pathParams.map((p) => [p.name, pathParamArb()])) as Record<
      string,
      fc.Arbitrary<FuzzRequest['params'][string]>
    >,
  );
  const bodies = SAFE_METHODS.has(operation.method)
    ? fc.oneof({ weight: 8, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: anyBodyArb() })
    : fc.oneof(
        {
          weight: operation.body ? 6 : 1,
          arbitrary: nearObjectArb(operation.body?.schema ?? { type: 'object', properties: {} }, hints).map((text) => ({
            text,
            type: 'application/json',
          })),
        },
        { weight: 4, arbitrary: anyBodyArb() },
      );
  const credential = fc.oneof(
    { weight: 8, arbitrary: fc.constant({ kind: 'own' as const, text: '' }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const, text: '' }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.base64String({ minLength: 40, maxLength: 48 }),
          fc.tuple(keyIdArb, secretArb).map(([id, s]) => wellFormedKey(PREFIX, id, s)),
        )
        .map((text) => ({ kind: 'forged' as const, text })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: headerCharArb, maxLength: 300 }).map((text) => ({ kind: 'garbage' as const, text })),
    },
  );
  return fc.record(
    {
      params,
      query: queryArb(queryParams.map((p) => ({ name: p.name, schema: p.schema }))),
      body: bodies,
      credential,
      requestId: fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
        fc.string({ unit: headerCharArb, maxLength: 80 }),
        fc.integer({ min: 65, max: 200 }).map((n) => 'r'.repeat(n)),
      ),
    },
    { requiredKeys: ['params', 'query', 'body', 'credential'] },
  );
}

function pathParamArb(): fc.Arbitrary<FuzzRequest['params'][string]> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.nat().map((index) => ({ kind: 'own' as const, index, text: '' })) },
    { weight: 2, arbitrary: fc.nat().map((index) => ({ kind: 'foreign' as const, index, text: '' })) },
    { weight: 1, arbitrary: keyIdArb.map((text) => ({ kind: 'text' as const, text })) },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: 'binary', maxLength: 40 })
        .map((text) => ({ kind: 'text' as const, text: encodeBytes(text) })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 14, max: 130 }).map((n) => ({ kind: 'text' as const, text: 'a'.repeat(n) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '%2E%2E',
          '%2F',
          '%00',
          '%',
          '%zz',
          '%E0%A4',
          '%C0%AF',
          '__proto__',
          'constructor',
          '%20',
          '-1',
          'null',
        )
        .map((text) => ({ kind: 'text' as const, text })),
    },
  );
}

/** A query string: the documented parameters (valid, out of range, wrong, repeated) and extra or hostile ones. */
function queryArb(params: Array<{ name: string; schema: JsonSchema }>): fc.Arbitrary<string> {
  const value = (schema: JsonSchema | undefined) =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: nearValueArb(schema, []).map((v) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))),
      },
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
    );
  const documented = params.map((p) =>
    fc
      .option(fc.array(value(p.schema), { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 3 })
      .map((values) => (values ?? []).map((v) => [p.name, v] as [string, string])),
  );
  const extras = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...PROTO_KEYS, 'a[b]', '__proto__[x]'), fc.string({ maxLength: 8 })),
      value(undefined),
    ),
    {
      maxLength: 2,
    },
  );
  const structured = fc
    .tuple(
      fc.tuple(...documented),
      fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: extras }),
    )
    .map(([own, extra]) => {
      const pairs = [...own.flat(), ...extra];
      return pairs.length === 0 ? '' : '?' + pairs.map(([k, v]) => `${encodeBytes(k)}=${encodeBytes(v)}`).join('&');
    });
  // Raw text: stray %, &, =, malformed escapes.
  const raw = fc
    .string({ unit: 'binary-ascii', maxLength: 60 })
    .map((text) => '?' + encodeBytes(text, "%&=+;,[]!$'()*:@/?"));
  return fc.oneof(
    { weight: 5, arbitrary: structured },
    { weight: 1, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant('') },
  );
}

const wrongTypeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
);

/** A value for a schema: often valid, else at its bounds, of the wrong type, whitespace, huge or deep. */
function nearValueArb(schema: JsonSchema | undefined, hints: unknown[]): fc.Arbitrary<unknown> {
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  const hinted = hints.length > 0 ? [{ weight: 3, arbitrary: fc.constantFrom(...hints) }] : [];
  const huge = fc.integer({ min: 300, max: 20_000 }).map((n) => 'x'.repeat(n));
  if (schema && type === 'string') {
    const min = schema.minLength ?? 0;
    const max = schema.maxLength ?? 1000;
    let valid: fc.Arbitrary<string>;
    if (schema.format === 'email') valid = fc.emailAddress().filter((email) => email.length <= max);
    else if (schema.pattern) {
      valid = fc
        .stringMatching(new RegExp(schema.pattern))
        .filter((text) => [...text].length >= min && [...text].length <= max);
    } else valid = fc.string({ unit: 'grapheme', minLength: min, maxLength: Math.min(max, min + 30) });
    return fc.oneof(
      { weight: 6, arbitrary: valid },
      ...hinted,
      { weight: 1, arbitrary: fc.constantFrom(max + 1, Math.max(min - 1, 0), 0).map((n) => 'a'.repeat(n)) },
      { weight: 1, arbitrary: fc.constantFrom(' ', '\t\n', '\u00a0', '\u200b', '\u0000') },
      { weight: 1, arbitrary: huge },
      { weight: 2, arbitrary: wrongTypeArb },
    );
  }
  if (schema && (type === 'integer' || type === 'number')) {
    const min = schema.minimum ?? -1e9;
    const max = schema.maximum ?? 1e9;
    return fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min, max }) },
      ...hinted,
      {
        weight: 2,
        arbitrary: fc.constantFrom(min - 1, max + 1, 0.5, -1, 1e21, -1e21, Number.MAX_SAFE_INTEGER + 2, 2 ** 31),
      },
      { weight: 1, arbitrary: fc.integer({ min, max }).map(String) },
      { weight: 2, arbitrary: wrongTypeArb },
    );
  }
  return fc.oneof(...hinted, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
}

/** An object near the schema: its properties (each maybe absent) and sometimes extra or hostile keys. */
function nearObjectArb(schema: JsonSchema, hints: Record<string, unknown[]>): fc.Arbitrary<string> {
  const members = Object.entries(schema.properties ?? {}).map(([name, property]) =>
    fc
      .option(nearValueArb(property, hints[name] ?? []), { nil: undefined, freq: 5 })
      .map((value) => [name, value] as [string, unknown]),
  );
  const extras = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 12 })), fc.jsonValue({ maxDepth: 2 })),
    {
      minLength: 1,
      maxLength: 2,
    },
  );
  return fc
    .tuple(
      fc.tuple(...members),
      fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: extras }),
      fc.boolean(),
    )
    .map(([own, extra, extraFirst]) => objectText(extraFirst ? [...extra, ...own] : [...own, ...extra]));
}

/** Any body: arbitrary JSON, deep nesting, huge strings, prototype-pollution keys, broken JSON, other media types. */
function anyBodyArb(): fc.Arbitrary<{ text?: string; type?: string }> {
  const json = 'application/json';
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 6000 }), fc.constantFrom('array', 'object', 'in-property'))
    .map(([depth, kind]) => {
      if (kind === 'array') return '['.repeat(depth) + ']'.repeat(depth);
      const nested = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      return kind === 'object' ? nested : `{"name":${nested}}`;
    });
  const pollution = fc.constantFrom(
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"name":"x","__proto__":{"name":"y"}}',
    '{"__proto__":null}',
    '[{"__proto__":{"admin":true}}]',
    '{"a":{"__proto__":{"admin":true}}}',
    '{"prototype":{"admin":true}}',
    '{"constructor":1}',
    '{"name":{"toString":null,"valueOf":null}}',
    '{"expireOldKeyInSeconds":{"valueOf":1}}',
    '{"email":{"__proto__":{"toLowerCase":1}}}',
  );
  const contentTypes = fc.oneof(
    fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json;',
      'APPLICATION/JSON',
      'application/jsonx',
      'application/merge-patch+json',
      'application/octet-stream',
      '*/*',
      '',
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  );
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => ({ text: JSON.stringify(value), type: json })),
    },
    { weight: 1, arbitrary: deep.map((text) => ({ text, type: json })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('name', 'email', 'password', 'accountName', 'x'), fc.integer({ min: 1000, max: 20_000 }))
        .map(([key, n]) => ({ text: objectText([[key, 'é'.repeat(n)]]), type: json })),
    },
    { weight: 2, arbitrary: pollution.map((text) => ({ text, type: json })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((text) => ({ text, type: json })) },
    { weight: 1, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(contentTypes, fc.string({ unit: 'binary', maxLength: 100 }))
        .map(([type, text]) => ({ type, text })),
    },
  );
}

/** One line per operation: `createKey: 201×12, 400 invalid_request×80, …`. */
function formatHistogram(histogram: Map<string, number>): string {
  const lines = new Map<string, string[]>();
  for (const [bucket, count] of [...histogram.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [operationId, ...answer] = bucket.split(' ');
    lines.set(operationId!, [...(lines.get(operationId!) ?? []), `${answer.join(' ')}×${count}`]);
  }
  return [...lines.entries()].map(([operationId, answers]) => `\n  ${operationId}: ${answers.join(', ')}`).join('');
}
