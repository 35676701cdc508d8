import t from 'tap';
import { digestsEqual, keyDigest } from '../../src/key-check/digest.js';
import { generateKey } from '../../src/keys/key-format.js';

t.test('the digest depends on the server secret and the whole key', async (t) => {
  const { key } = generateKey('kw');
  const digest = keyDigest('secret-one-secret-one-secret-one!', key);
  t.equal(digest, keyDigest('secret-one-secret-one-secret-one!', key), 'deterministic');
  t.not(digest, keyDigest('secret-two-secret-two-secret-two!', key), 'keyed by the server secret');
  t.not(digest, keyDigest('secret-one-secret-one-secret-one!', key.slice(0, -1) + 'x'), 'every character counts');
  t.notMatch(digest, key.slice(20, 40), 'reveals nothing of the key');
});

t.test('digestsEqual compares exactly', async (t) => {
  t.ok(digestsEqual('abc=', 'abc='));
  t.notOk(digestsEqual('abc=', 'abd='));
  t.notOk(digestsEqual('abc=', 'abc'));
  t.notOk(digestsEqual('', 'a'));
  t.ok(digestsEqual('', ''));
});
