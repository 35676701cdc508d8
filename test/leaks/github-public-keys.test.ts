import { sign } from 'node:crypto';
import pino from 'pino';
import t, { type Test } from 'tap';
import { GitHubPublicKeys } from '../../src/leaks/github-public-keys.js';
import { generateSigningKey, startGitHubStandIn, type SigningKey } from '../support/github-stand-in.js';

/*
 * The cache of GitHub's signing keys, against the local GitHub stand-in (the only mock: a small HTTP
 * server serving a generated P-256 key document) and a clock the test moves, so that TTLs and the refetch
 * bound are exercised without waiting for them.
 */

const BODY = Buffer.from('[{"token":"kw_x","type":"keyward_api_key","url":"","source":"content"}]');
const signatureOf = (body: Buffer, key: SigningKey) =>
  sign('sha256', body, { key: key.privateKey, dsaEncoding: 'der' }).toString('base64');

async function setUp(t: Test, published: SigningKey[]) {
  const standIn = await startGitHubStandIn(published);
  t.teardown(() => standIn.close());
  const clock = { now: 0 };
  const keys = new GitHubPublicKeys({
    url: standIn.url,
    cacheMs: 3_600_000,
    refetchIntervalMs: 60_000,
    timeoutMs: 2000,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
  });
  return { standIn, clock, keys };
}

t.test('keys are fetched once and cached; signatures are checked over the raw bytes', async (t) => {
  const github = generateSigningKey();
  const other = generateSigningKey();
  const { standIn, keys } = await setUp(t, [github]);
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), Buffer.from(` ${BODY}`)), 'invalid');
  t.equal(await keys.check(github.identifier, signatureOf(BODY, other), BODY), 'invalid', 'signed by another key');
  t.equal(await keys.check(github.identifier, 'not base64 DER!', BODY), 'invalid');
  t.equal(standIn.fetches, 1);
});

t.test('GitHub rotated its keys: an unknown identifier is refetched once, single-flight', async (t) => {
  const old = generateSigningKey();
  const rotated = generateSigningKey();
  const { standIn, keys } = await setUp(t, [old]);
  t.equal(await keys.check(old.identifier, signatureOf(BODY, old), BODY), 'valid');
  standIn.published = [old, rotated];
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => keys.check(rotated.identifier, signatureOf(BODY, rotated), BODY)),
  );
  t.same(new Set(answers), new Set(['valid']));
  t.equal(standIn.fetches, 2, 'ten concurrent reports with the new identifier: one refetch');
});

t.test('bogus identifiers cost GitHub at most one fetch per interval', async (t) => {
  const github = generateSigningKey();
  const { standIn, clock, keys } = await setUp(t, [github]);
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  for (let i = 0; i < 50; i++) {
    t.equal(await keys.check(`bogus-${i}`, signatureOf(BODY, github), BODY), 'unknown_key');
    clock.now += 1000; // 50 s in all: within one interval
  }
  t.equal(standIn.fetches, 2, 'one refetch for 50 unknown identifiers within the interval');
  clock.now += 60_000;
  t.equal(await keys.check('bogus-again', signatureOf(BODY, github), BODY), 'unknown_key');
  t.equal(standIn.fetches, 3, 'the next interval allows one more');
});

t.test('GitHub down: the last good set is kept, and retried at most once per interval', async (t) => {
  const github = generateSigningKey();
  const { standIn, clock, keys } = await setUp(t, [github]);
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  await standIn.close();
  clock.now += 3_600_000; // the cached set is stale
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid', 'last good set used');
  t.equal(keys.fetches, 2, 'one failed attempt');
  clock.now += 1000;
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  t.equal(await keys.check('unknown', signatureOf(BODY, github), BODY), 'unknown_key');
  t.equal(keys.fetches, 2, 'no new attempt within the interval after a failure');
  clock.now += 60_000;
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  t.equal(keys.fetches, 3, 'retried after the interval');
});

t.test('no key set ever fetched: unavailable, not invalid', async (t) => {
  const github = generateSigningKey();
  const { standIn, keys } = await setUp(t, [github]);
  await standIn.close();
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'unavailable');
});

t.test('a document without usable P-256 keys is not accepted; the last good set stays', async (t) => {
  const github = generateSigningKey();
  const { standIn, clock, keys } = await setUp(t, [github]);
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  standIn.published = [{ ...github, publicPem: 'not a PEM' }];
  clock.now += 3_600_000;
  t.equal(await keys.check(github.identifier, signatureOf(BODY, github), BODY), 'valid');
  t.equal(keys.fetches, 2);
});
