import { createHash } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import { KeyChecker, type KeyCheck } from '../../src/key-check/key-checker.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import { SecretHasher } from '../../src/keys/secret-hashing.js';
import type { Runtime } from '../../src/app/runtime.js';
import { Redis } from 'ioredis';
import { buildTestApp, createKey, revokeKey, signUp, type TestApp } from '../support/app.js';
import { TEST_ARGON2, testServices } from '../support/services.js';
import { eventually } from '../support/wait.js';
import { withLastCharacterChanged } from '../support/keys.js';

/** A check's answer for a proven key with no restriction (full access, anywhere, no metadata). */
function provenAnswer(outcome: 'valid' | 'revoked', accountId: string, keyId: string, tier: string) {
  const identity = { accountId, keyId, scopes: null, metadata: null };
  return { outcome, accountId, keyId, expiresAt: null, restriction: null, identity, tier };
}

/*
 * The KeyChecker's cost model: which checks pay for argon2, Postgres or
 * Redis, and which are answered synchronously from memory.
 *
 * Each test builds its own KeyChecker from the exported classes, on the real
 * app's database, cache and fleet sync (so revocations made through the API
 * reach it, exactly as they reach the app's own checker), but with a
 * counting SecretHasher and counting wrappers around the database and the
 * Redis hot store. The counts are of calls the checker really makes.
 */

/** A real SecretHasher whose verify() is counted and can be held at a gate. */
class CountingHasher extends SecretHasher {
  verifications = 0;
  running = 0;
  maxRunning = 0;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => {};

  constructor(argon2: { concurrency: number; queueMax: number }) {
    super(
      {
        memoryKib: Number(TEST_ARGON2.KEYWARD_ARGON2_MEMORY_KIB),
        timeCost: Number(TEST_ARGON2.KEYWARD_ARGON2_TIME_COST),
        parallelism: 1,
      },
      { concurrency: argon2.concurrency, keyCheckQueueMax: argon2.queueMax, accountQueueMax: 0, accountWaitMs: 1000 },
    );
  }

  /** Verifications started from now on wait until open(). */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.openGate();
    this.gate = Promise.resolve();
  }

  // Inside the pool's slot, as the real argon2 work.
  protected override async verifyNow(hash: string, secret: string): Promise<boolean> {
    this.verifications++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.gate;
      return await super.verifyNow(hash, secret);
    } finally {
      this.running--;
    }
  }
}

/** Wraps `target` so that every method call on it is counted under its name. */
function counting<T extends object>(target: T, calls: Map<string, number>): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        calls.set(property, (calls.get(property) ?? 0) + 1);
        return (value as (...args: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

interface Io {
  /** Postgres queries (db.select and anything else called on the database). */
  database: Map<string, number>;
  /** Redis hot-store calls (lookup, fill). */
  redis: Map<string, number>;
}

const total = (calls: Map<string, number>) => [...calls.values()].reduce((sum, n) => sum + n, 0);

function countingChecker(runtime: Runtime, argon2 = { concurrency: 2, queueMax: 256 }) {
  const hasher = new CountingHasher(argon2);
  const io: Io = { database: new Map(), redis: new Map() };
  const realFleet = runtime.keyChecking.fleet;
  const countedHotStore = realFleet.hotStore ? counting(realFleet.hotStore, io.redis) : null;
  // The fleet as the checker sees it: the real one (epoch, trust), with the hot store counted.
  const fleet = new Proxy(realFleet, {
    get: (object, property) => (property === 'hotStore' ? countedHotStore : Reflect.get(object, property)),
  });
  const checker = new KeyChecker({
    db: counting(runtime.database.db, io.database),
    hasher,
    cache: runtime.keyChecking.checker.cache,
    fleet,
    serverSecret: runtime.serverSecret,
    keyPrefix: runtime.env.KEYWARD_KEY_PREFIX,
    databaseTimeoutMs: runtime.env.KEYWARD_DATABASE_TIMEOUT_MS,
  });
  return { checker, hasher, io };
}

/** Keys no one has checked yet, in an account of their own (an account holds at most two active keys). */
async function freshKeys({ app }: TestApp, count: 1 | 2) {
  const user = await signUp(app);
  const keys = [];
  for (let i = 0; i < count; i++) keys.push({ ...(await createKey(app, user.cookie)), user });
  return keys;
}

async function freshKey(built: TestApp) {
  return (await freshKeys(built, 1))[0]!;
}

/** Six unchecked keys, across three accounts. */
async function sixFreshKeys(built: TestApp) {
  return [...(await freshKeys(built, 2)), ...(await freshKeys(built, 2)), ...(await freshKeys(built, 2))];
}

function checkerTests(t: Test, built: TestApp) {
  const { app, runtime } = built;

  t.test('a burst for one cold key costs one query and one argon2; then hits are synchronous', async (t) => {
    const { apiKey, keyId, user } = await freshKey(built);
    const { checker, hasher, io } = countingChecker(runtime);

    const burst = Array.from({ length: 50 }, () => checker.check(apiKey));
    t.ok(
      burst.every((result) => result instanceof Promise),
      'a cold key is answered asynchronously',
    );
    const results = await Promise.all(burst);
    t.same(
      results,
      Array.from({ length: 50 }, () => provenAnswer('valid', user.accountId, keyId, 'postgres')),
    );
    t.equal(hasher.verifications, 1, 'exactly one argon2 for 50 concurrent checks');
    t.equal(io.database.get('select'), 1, 'and one Postgres query');
    const redisCalls = total(io.redis);

    const hit = checker.check(apiKey);
    t.notOk(hit instanceof Promise, 'a hit is answered synchronously, not with a Promise');
    t.same(hit, provenAnswer('valid', user.accountId, keyId, 'memory'));

    // Same id, valid checksum, other secret: the cached digest refutes it without argon2.
    const wrong = checker.check(generateKey('kw', keyId).key);
    t.notOk(wrong instanceof Promise, 'a wrong secret for a cached id is answered synchronously');
    t.same(wrong, { outcome: 'invalid', tier: 'memory' });
    t.same(checker.check(apiKey), hit, 'and does not disturb the cached key');
    t.equal(checker.check(apiKey), hit, 'hits share one frozen answer: nothing is allocated per hit');
    t.ok(Object.isFrozen(hit));

    // The cached key with a character changed: its digest differs, and its checksum fails.
    const mistyped = withLastCharacterChanged(apiKey);
    t.same(checker.check(mistyped), { outcome: 'invalid', tier: 'format' }, 'a mistyped cached key: a format failure');
    const otherPrefix = `kx${apiKey.slice(2)}`;
    t.same(
      checker.check(otherPrefix),
      { outcome: 'invalid', tier: 'format' },
      'the same id and secret, another prefix',
    );

    t.equal(hasher.verifications, 1, 'no argon2 for hits or the wrong secret');
    t.equal(total(io.database), 1, 'no query either');
    t.equal(total(io.redis), redisCalls, 'nor Redis');
  });

  t.test('malformed keys are refused from their format alone: no argon2, no I/O', async (t) => {
    const { checker, hasher, io } = countingChecker(runtime);
    const { key } = generateKey('kw'); // well-formed, to be damaged
    const flipLast = withLastCharacterChanged(key);
    const malformed: Array<[string, unknown]> = [
      ['missing', undefined],
      ['empty', ''],
      ['garbage', 'hello'],
      ['not a string', 12345],
      ['repeated header (array)', [key, key]],
      ['bad checksum', flipLast],
      ['other prefix', key.replace(/^kw_/, 'zz_')],
      ['too long', key + 'A'],
      ['truncated', key.slice(0, -1)],
      ['non-base62 character', key.slice(0, 10) + '-' + key.slice(11)],
    ];
    for (const [label, value] of malformed) {
      const result = checker.check(value);
      t.notOk(result instanceof Promise, `${label}: synchronous`);
      t.same(result, { outcome: 'invalid', tier: 'format' }, label);
    }
    t.equal(hasher.verifications, 0, 'no argon2');
    t.equal(total(io.database), 0, 'no Postgres');
    t.equal(total(io.redis), 0, 'no Redis');
  });

  t.test('unknown key ids are negatively cached: the second check does not reach Postgres', async (t) => {
    const { checker, hasher, io } = countingChecker(runtime);
    const { key, keyId } = generateKey('kw');
    const first = checker.check(key);
    t.ok(first instanceof Promise);
    t.same(await first, { outcome: 'invalid', tier: 'postgres' });
    t.equal(io.database.get('select'), 1);

    const again = checker.check(key);
    t.notOk(again instanceof Promise, 'the second check is synchronous');
    t.same(again, { outcome: 'invalid', tier: 'memory' });
    t.same(checker.check(generateKey('kw', keyId).key), { outcome: 'invalid', tier: 'memory' }, 'whatever the secret');
    t.equal(total(io.database), 1, 'Postgres was asked once');
    t.equal(hasher.verifications, 0, 'an unknown id never costs argon2');
  });

  t.test('a flood of distinct cold keys beyond the argon2 queue answers unavailable, not later', async (t) => {
    const keys = await sixFreshKeys(built);
    const { checker, hasher } = countingChecker(runtime, { concurrency: 1, queueMax: 0 });
    hasher.hold(); // the first argon2 to start keeps the only slot until we open the gate

    const settled: KeyCheck[] = [];
    const flood = keys.map((key) => Promise.resolve(checker.check(key.apiKey)).then((result) => settled.push(result)));
    t.ok(
      await eventually(() => settled.length >= keys.length - 1),
      'every check but the running one is answered while argon2 is still busy',
    );
    t.equal(settled.length, keys.length - 1, 'the running one is still waiting on its argon2');
    t.same(
      settled,
      settled.map(() => ({ outcome: 'unavailable', tier: 'postgres' })),
      'refused as unavailable (503), never as invalid',
    );
    t.equal(hasher.verifications, 1, 'the refused checks never started an argon2');

    hasher.open();
    await Promise.all(flood);
    t.match(settled.at(-1), { outcome: 'valid', tier: 'postgres' }, 'the one that ran succeeds');
    t.equal(hasher.maxRunning, 1);

    // Unavailable is not remembered: each refused key is valid when checked again with argon2 free.
    for (const key of keys) {
      t.match(await checker.check(key.apiKey), { outcome: 'valid', keyId: key.keyId }, key.keyId);
    }
  });

  t.test('checks beyond the argon2 concurrency wait in the queue, up to its bound', async (t) => {
    const keys = await sixFreshKeys(built);
    const { checker, hasher } = countingChecker(runtime, { concurrency: 1, queueMax: 2 });
    hasher.hold();
    const settled: KeyCheck[] = [];
    const checks = keys.map((key) => Promise.resolve(checker.check(key.apiKey)).then((result) => settled.push(result)));
    // 1 running + 2 queued; the other 3 are refused at once, while the first argon2 is still held.
    t.ok(await eventually(() => settled.length >= 3));
    t.equal(settled.length, 3, 'the queued checks wait');
    t.same(
      settled.map((result) => result.outcome),
      ['unavailable', 'unavailable', 'unavailable'],
    );
    hasher.open();
    await Promise.all(checks);
    t.same(
      settled.slice(3).map((result) => result.outcome),
      ['valid', 'valid', 'valid'],
      'the running and the queued checks complete',
    );
    t.equal(hasher.verifications, 3);
    t.equal(hasher.maxRunning, 1, 'never more argon2 at once than the concurrency');
  });

  t.test('a cached key that is revoked answers revoked from memory', async (t) => {
    const { apiKey, keyId, user } = await freshKey(built);
    const { checker, hasher, io } = countingChecker(runtime);
    t.equal((await checker.check(apiKey)).outcome, 'valid');

    const revoke = await revokeKey(app, user.cookie, keyId);
    t.equal(revoke.statusCode, 200);

    const after = checker.check(apiKey);
    t.notOk(after instanceof Promise, 'synchronous');
    t.same(after, provenAnswer('revoked', user.accountId, keyId, 'memory'));
    t.same(checker.check(generateKey('kw', keyId).key), { outcome: 'invalid', tier: 'memory' }, 'wrong secret');
    t.equal(hasher.verifications, 1, 'no argon2 after the first check');
    t.equal(total(io.database), 1, 'no query after the first check');
  });

  t.test('a check that read Postgres before a revocation does not cache the key as active', async (t) => {
    const { apiKey, keyId, user } = await freshKey(built);
    const { checker, hasher } = countingChecker(runtime);
    hasher.hold();
    const inFlight = checker.check(apiKey); // reads the key as active, then waits at argon2
    t.ok(await eventually(() => hasher.verifications === 1), 'the check has read Postgres');

    const revoke = await revokeKey(app, user.cookie, keyId);
    t.equal(revoke.statusCode, 200);
    hasher.open();
    await inFlight; // it was sent before the revoke returned, so either answer is allowed for it

    t.equal((await checker.check(apiKey)).outcome, 'revoked', 'every later check sees the revocation');
  });
}

for (const mode of ['redis', 'single-instance'] as const) {
  t.test(`KeyChecker (${mode})`, async (t) => {
    const built = await buildTestApp(t, {
      // A long lease: the cache must stay trusted through the test however slow the machine is.
      env: mode === 'redis' ? { KEYWARD_LEASE_MS: '60000' } : { REDIS_URL: '' },
    });
    t.equal(built.runtime.fleetMode, mode);
    checkerTests(t, built);
  });
}

t.test('a hot-set entry this version cannot read is not trusted: Postgres decides (regression)', async (t) => {
  // A bug in the announce script once wrote a revoked key's status as "" into Redis, and a cold check
  // on a recovered instance then accepted the revoked key with an empty identity.
  const built = await buildTestApp(t, {});
  const { apiKey, keyId, user } = await freshKey(built);
  t.match(await built.runtime.keyChecking.checker.check(apiKey), { outcome: 'valid' }, 'checked once: hot in Redis');
  const revoke = await revokeKey(built.app, user.cookie, keyId);
  t.equal(revoke.statusCode, 200);
  const redis = new Redis((await testServices()).redisUrl);
  t.teardown(() => redis.disconnect());
  const { checker, hasher } = countingChecker(built.runtime);
  const digestOfTheKey = JSON.parse((await redis.get(`${built.redisPrefix}key:${keyId}`))!).d as string;
  t.type(digestOfTheKey, 'string');
  for (const corrupt of [
    { d: digestOfTheKey, a: user.accountId, s: '' },
    { d: digestOfTheKey, a: user.accountId, s: 'valid' },
    { d: digestOfTheKey, s: 'active' },
    'not json',
  ]) {
    await redis.set(
      `${built.redisPrefix}key:${keyId}`,
      typeof corrupt === 'string' ? corrupt : JSON.stringify(corrupt),
    );
    built.runtime.keyChecking.checker.cache.changed(keyId, 'expiry_scheduled', Date.now()); // forget it in memory
    t.match(await checker.check(apiKey), { outcome: 'revoked', tier: 'postgres' }, JSON.stringify(corrupt));
  }
  t.ok(hasher.verifications >= 1, 'the secret was proven in Postgres');
});

t.test(
  'the hot set holds the digest every version reads: base64 SHA-256 over secret, NUL, key (rolling deploys)',
  async (t) => {
    const built = await buildTestApp(t, { env: { KEYWARD_LEASE_MS: '60000' } });
    const { apiKey, keyId, user } = await freshKey(built);
    const shared = createHash('sha256').update(`${built.runtime.serverSecret}\u0000${apiKey}`).digest('base64');
    t.match(await built.runtime.keyChecking.checker.check(apiKey), { outcome: 'valid' }, 'checked once: hot in Redis');
    const redis = new Redis((await testServices()).redisUrl);
    t.teardown(() => redis.disconnect());
    const entryKey = `${built.redisPrefix}key:${keyId}`;
    t.equal(JSON.parse((await redis.get(entryKey))!).d, shared, 'written in the shared form');

    // An entry as any version writes it: a cold check here proves the key from it, with no argon2.
    await redis.set(entryKey, JSON.stringify({ d: shared, a: user.accountId, s: 'active' }), 'PX', 60_000);
    const forget = () => built.runtime.keyChecking.checker.cache.changed(keyId, 'expiry_scheduled', Date.now());
    forget();
    const { checker, hasher } = countingChecker(built.runtime);
    t.same(await checker.check(apiKey), provenAnswer('valid', user.accountId, keyId, 'redis'));
    t.same(checker.check(apiKey), provenAnswer('valid', user.accountId, keyId, 'memory'), 'then cached');
    forget();
    const wrongSecret = generateKey(built.runtime.env.KEYWARD_KEY_PREFIX, keyId).key;
    t.same(await checker.check(wrongSecret), { outcome: 'invalid', tier: 'redis' }, 'another secret for the id');
    t.equal(hasher.verifications, 0, 'no argon2');
  },
);
