/**
 * Issue #15, class 7: argon2 is bounded, and account operations cannot starve key checks. Every argon2
 * hash and verification of an instance runs in one pool (KEYWARD_ARGON2_CONCURRENCY) with two bounded
 * queues: a freed slot goes to a waiting key check before any sign-up, sign-in or new key; a full queue, or
 * an account operation that waited KEYWARD_ARGON2_ACCOUNT_WAIT_MS, answers 503 server_busy with Retry-After.
 * And a third key is refused before argon2 is spent on it. Through the real app, argon2 work counted (and
 * held at a gate) inside the pool's slot; outcomes and order asserted, never timings.
 */
import t from 'tap';
import type { SecretHasher } from '../../src/keys/secret-hashing.js';
import { buildTestApp, callMe, createKey, revokeKey, signUp, signUpRequest } from '../support/app.js';
import { envelopeProblem, errorOf, PASSWORD } from '../support/http.js';
import { eventually } from '../support/wait.js';

/**
 * Records every argon2 task as it starts in a slot of the pool: `key` for an API key's secret, `password`
 * otherwise. `hold()` makes the next task keep its slot until the returned function is called.
 */
function watchArgon2(hasher: SecretHasher) {
  const started: Array<'key' | 'password'> = [];
  let gate: Promise<void> | null = null;
  const kind = (secret: string) => (secret.startsWith('kw_') ? 'key' : 'password');
  const hashNow = hasher['hashNow'].bind(hasher);
  const verifyNow = hasher['verifyNow'].bind(hasher);
  const atGate = async () => {
    const waiting = gate;
    gate = null;
    await waiting;
  };
  hasher['hashNow'] = async (secret: string) => {
    started.push(kind(secret));
    await atGate();
    return hashNow(secret);
  };
  hasher['verifyNow'] = async (hash: string, secret: string) => {
    started.push(kind(secret));
    await atGate();
    return verifyNow(hash, secret);
  };
  return {
    started,
    hashes: () => started.length,
    hold(): () => void {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return open;
    },
  };
}

t.test('a flood of sign-ups and sign-ins waits behind key checks, and overflows with 503 server_busy', async (t) => {
  const built = await buildTestApp(t, {
    env: {
      KEYWARD_ARGON2_CONCURRENCY: '1',
      KEYWARD_ARGON2_ACCOUNT_QUEUE_MAX: '4',
      KEYWARD_ARGON2_ACCOUNT_WAIT_MS: '600000', // this test is about order; the wait bound has its own
    },
  });
  const { app, runtime } = built;
  const owners = [await signUp(app, 'Traffic A'), await signUp(app, 'Traffic B')];
  const keys = [];
  for (const owner of owners) keys.push(await createKey(app, owner.cookie), await createKey(app, owner.cookie));
  const argon2 = watchArgon2(runtime.hasher);
  const stats = () => runtime.hasher.stats();

  // One sign-up takes the only slot and keeps it until the gate opens.
  const open = argon2.hold();
  const first = signUpRequest(built.app, { email: 'first@example.com', address: '198.51.100.1', accountName: 'Flood' });
  t.ok(await eventually(() => argon2.started.length === 1), 'the first sign-up holds the slot');

  // The flood: sign-ups from many addresses and sign-ins (right and wrong passwords). 4 may wait.
  const flood = [
    ...Array.from({ length: 6 }, (_, i) =>
      signUpRequest(built.app, {
        email: `flood${i}@example.com`,
        address: `198.51.100.${10 + i}`,
        accountName: 'Flood',
      }),
    ),
    app.inject({ method: 'POST', url: '/v1/login', payload: { email: owners[0]!.email, password: PASSWORD } }),
    app.inject({ method: 'POST', url: '/v1/login', payload: { email: owners[1]!.email, password: 'not the one!' } }),
  ];
  t.ok(await eventually(() => stats().refused.account === 4), '4 account operations beyond the queue are refused');
  t.equal(stats().waiting.account, 4, '4 wait');

  // Then API traffic: keys no instance has checked yet, so each needs argon2.
  const checks = keys.map((key) => callMe(app, key.apiKey));
  t.ok(await eventually(() => stats().waiting['key-check'] === keys.length), 'the key checks wait too');

  open();
  const checked = await Promise.all(checks);
  t.same(
    checked.map((response) => response.statusCode),
    keys.map(() => 200),
    'every key check is served',
  );
  const answers = await Promise.all([first, ...flood]);
  t.same(
    argon2.started,
    ['password', ...keys.map(() => 'key'), 'password', 'password', 'password', 'password'],
    'after the slot holder, every key check ran before any waiting account operation',
  );
  const busy = answers.filter((response) => response.statusCode === 503);
  t.equal(busy.length, 4, 'the overflow answered 503');
  for (const response of busy) {
    t.equal(envelopeProblem(response), undefined, 'in the envelope');
    t.equal(errorOf(response).code, 'server_busy');
    t.match(errorOf(response).message, /busy checking API keys.*Try again in a few seconds/);
    t.ok(Number(response.headers['retry-after']) >= 1, 'with Retry-After');
  }
  const served = answers.filter((response) => response.statusCode !== 503).map((r) => r.statusCode);
  t.equal(served.length, 5, 'the slot holder and the 4 that waited were served');
  t.ok(
    served.every((status) => [200, 201, 401].includes(status)),
    `as usual: signed up, signed in, or a wrong password (${served.join(', ')})`,
  );
  t.same(stats().refused['key-check'], 0, 'no key check was refused');
});

t.test('an account operation that waits too long behind key checks answers 503, not never', async (t) => {
  const built = await buildTestApp(t, {
    env: { KEYWARD_ARGON2_CONCURRENCY: '1', KEYWARD_ARGON2_ACCOUNT_WAIT_MS: '300' },
  });
  const { runtime } = built;
  const argon2 = watchArgon2(runtime.hasher);
  const open = argon2.hold();
  const holder = signUpRequest(built.app, {
    email: 'holder@example.com',
    address: '198.51.100.1',
    accountName: 'Flood',
  });
  t.ok(await eventually(() => argon2.started.length === 1), 'the slot is held');
  const waiting = await Promise.all([
    signUpRequest(built.app, { email: 'late1@example.com', address: '198.51.100.2', accountName: 'Flood' }),
    signUpRequest(built.app, { email: 'late2@example.com', address: '198.51.100.3', accountName: 'Flood' }),
  ]);
  for (const response of waiting) {
    t.equal(response.statusCode, 503, 'given up on after KEYWARD_ARGON2_ACCOUNT_WAIT_MS');
    t.equal(errorOf(response).code, 'server_busy');
    t.equal(response.headers['retry-after'], '1');
  }
  open();
  t.equal((await holder).statusCode, 201, 'the holder is served');
  t.equal(argon2.started.length, 1, 'the refused sign-ups never hashed');
  const again = await signUpRequest(built.app, {
    email: 'late1@example.com',
    address: '198.51.100.2',
    accountName: 'Flood',
  });
  t.equal(again.statusCode, 201, 'nothing was created by the refused attempt: the same email signs up now');
});

t.test('a key that could not be stored costs no argon2', async (t) => {
  const built = await buildTestApp(t);
  const { app, runtime } = built;
  const user = await signUp(app, 'Full');
  const [first, second] = [await createKey(app, user.cookie, 'one'), await createKey(app, user.cookie, 'two')];
  const argon2 = watchArgon2(runtime.hasher);
  const post = (url: string, payload: object) =>
    app.inject({ method: 'POST', url, headers: { cookie: user.cookie }, payload });

  for (const attempt of [{}, { name: 'third' }, { name: 'x'.repeat(100) }]) {
    const third = await post('/v1/keys', attempt);
    t.equal(third.statusCode, 409, `a third key ${JSON.stringify(attempt).slice(0, 30)}: 409`);
    t.equal(errorOf(third).code, 'key_limit_reached');
  }
  const thirds = await Promise.all(Array.from({ length: 10 }, () => post('/v1/keys', {})));
  t.same(new Set(thirds.map((response) => response.statusCode)), new Set([409]), '10 at once: all 409');
  const rotateFull = await post(`/v1/keys/${first.keyId}/rotate`, {});
  t.equal(rotateFull.statusCode, 409, 'a rotation that needs a third slot: 409');
  t.equal(errorOf(rotateFull).code, 'key_limit_reached');
  const rotateScheduled = await post(`/v1/keys/${first.keyId}/rotate`, { expireOldKeyInSeconds: 3600 });
  t.equal(rotateScheduled.statusCode, 409, 'with a grace period the old key keeps its slot: 409');
  const unknown = await post('/v1/keys/AAAAAAAAAAAAAAAA/rotate', { expireOldKeyInSeconds: 0 });
  t.equal(unknown.statusCode, 404, 'an unknown key: 404');
  t.equal(argon2.hashes(), 0, 'none of these hashed a key');

  const replaced = await post(`/v1/keys/${first.keyId}/rotate`, { expireOldKeyInSeconds: 0 });
  t.equal(replaced.statusCode, 201, 'ending the old key at once frees its slot: the rotation goes ahead');
  t.equal(argon2.hashes(), 1, 'one hash for the one key made');
  const ended = await post(`/v1/keys/${first.keyId}/rotate`, {});
  t.equal(ended.statusCode, 409, 'rotating an ended key: 409');
  t.equal(errorOf(ended).code, 'key_not_active');
  await revokeKey(app, user.cookie, second.keyId);
  const afterRevoke = await post('/v1/keys', {});
  t.equal(afterRevoke.statusCode, 201, 'a revoke frees a slot');
  t.equal(argon2.hashes(), 2);

  // Creates of one account take turns on an instance, so a burst hashes only the keys it can store.
  const fresh = await signUp(app, 'Race');
  const hashesBefore = argon2.hashes();
  const race = await Promise.all(
    Array.from({ length: 12 }, () =>
      app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: fresh.cookie }, payload: {} }),
    ),
  );
  t.equal(race.filter((response) => response.statusCode === 201).length, 2, '12 at once on an empty account: two keys');
  t.equal(race.filter((response) => response.statusCode === 409).length, 10, 'and 10 refusals');
  t.equal(argon2.hashes() - hashesBefore, 2, 'two hashes for the burst: none for the refused');
});
