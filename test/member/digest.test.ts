import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { digestsEqual, fromSharedDigest, keyDigest, sharedDigest } from '../../packages/member/src/digest.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import { withLastCharacterChanged } from '../support/keys.js';

t.test('the digest depends on the server secret and the whole key', async (t) => {
  const { key } = generateKey('kw');
  const digest = keyDigest('secret-one-secret-one-secret-one!', key);
  t.equal(digest, keyDigest('secret-one-secret-one-secret-one!', key), 'deterministic');
  t.not(digest, keyDigest('secret-two-secret-two-secret-two!', key), 'keyed by the server secret');
  t.not(
    digest,
    keyDigest('secret-one-secret-one-secret-one!', withLastCharacterChanged(key)),
    'every character counts',
  );
  t.notMatch(digest, key.slice(20, 40), 'reveals nothing of the key');
});

t.test('digestsEqual compares exactly', async (t) => {
  t.ok(digestsEqual('abc=', 'abc='));
  t.notOk(digestsEqual('abc=', 'abd='));
  t.notOk(digestsEqual('abc=', 'abc'));
  t.notOk(digestsEqual('', 'a'));
  t.ok(digestsEqual('', ''));
});

t.test('the shared form is what Redis has always held: base64 SHA-256 over secret, NUL, key', async (t) => {
  const secret = 'secret-one-secret-one-secret-one!';
  const { key } = generateKey('kw');
  const digest = keyDigest(secret, key);
  t.equal(digest.length, 16, 'in memory: 16 UTF-16 code units');
  t.equal(sharedDigest(digest), createHash('sha256').update(`${secret}\u0000${key}`).digest('base64'));
  t.equal(fromSharedDigest(sharedDigest(digest)), digest);
});

t.test('every 32-byte digest survives the trip through its shared form, lone surrogates included', async (t) => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(32);
    if (i === 0) bytes.fill(0xd8); // 0xd8d8: a lone high surrogate in every code unit
    const digest = bytes.toString('utf16le');
    const shared = sharedDigest(digest);
    if (shared !== bytes.toString('base64') || !digestsEqual(fromSharedDigest(shared), digest)) {
      t.fail(`round trip of ${bytes.toString('hex')}`);
      return;
    }
  }
  t.pass('2000 random digests');
});

t.test('a shared digest that is not the exact base64 of 32 bytes equals no digest', async (t) => {
  const shared = sharedDigest(keyDigest('secret-one-secret-one-secret-one!', generateKey('kw').key));
  for (const malformed of [
    '',
    'abc',
    shared.slice(0, -1),
    `${shared}A`,
    `${shared.slice(0, 10)}!${shared.slice(10)}`,
    ` ${shared}`,
  ]) {
    t.equal(fromSharedDigest(malformed), '', JSON.stringify(malformed));
  }
});
