import t from 'tap';
import { generateKey, isKeyId, keyHint, keyPattern, parseKey } from '../../packages/member/src/key-format.js';

t.test('a generated key parses back to its id and matches the documented regex', async (t) => {
  for (let i = 0; i < 200; i++) {
    const { key, keyId } = generateKey('kw');
    t.equal(parseKey(key, 'kw')?.keyId, keyId);
    t.ok(keyPattern('kw').test(key));
    t.ok(isKeyId(keyId));
  }
  t.end();
});

t.test('the README regex is the one the code uses', async (t) => {
  t.equal(keyPattern('kw').source, '^kw_([0-9A-Za-z]{16})_([0-9A-Za-z]{39})$');
});

t.test('secrets are unique and long enough for 192 bits', async (t) => {
  const secrets = new Set<string>();
  for (let i = 0; i < 1000; i++) secrets.add(generateKey('kw').key.split('_')[2]!);
  t.equal(secrets.size, 1000);
  const [secret] = secrets;
  t.ok(secret!.length - 6 >= Math.ceil(192 / Math.log2(62)), 'at least 33 base62 characters of secret');
});

t.test('every single-character typo is caught by the checksum', async (t) => {
  const { key } = generateKey('kw');
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let tried = 0;
  for (let position = 3; position < key.length; position++) {
    if (key[position] === '_') continue;
    for (const replacement of alphabet) {
      if (replacement === key[position]) continue;
      const typo = key.slice(0, position) + replacement + key.slice(position + 1);
      if (parseKey(typo, 'kw') !== null) t.fail(`typo at ${position} accepted`);
      tried++;
    }
  }
  t.ok(tried > 3000);
  // Two adjacent characters swapped.
  const swapped = key.slice(0, 10) + key[11] + key[10] + key.slice(12);
  if (swapped !== key) t.equal(parseKey(swapped, 'kw'), null);
});

t.test('malformed values are refused without throwing', async (t) => {
  const { key } = generateKey('kw');
  const bad: unknown[] = [
    undefined,
    null,
    42,
    ['a', 'b'],
    '',
    'kw_',
    key.slice(0, -1),
    key + 'a',
    ' ' + key.slice(1),
    key.replace('kw_', 'sk_'),
    key.replace('kw_', 'KW_'),
    key.slice(0, 20) + '-' + key.slice(21),
    key.slice(0, 25) + 'é' + key.slice(26),
    'x'.repeat(100_000),
  ];
  for (const value of bad) t.equal(parseKey(value, 'kw'), null, `refused ${JSON.stringify(value)?.slice(0, 40)}`);
  t.equal(parseKey(key, 'other'), null, 'a key of another deployment prefix is refused');
});

t.test('the hint shows prefix, id and last 4 characters only', async (t) => {
  const { key, keyId } = generateKey('kw');
  t.equal(keyHint(key), `kw_${keyId}_…${key.slice(-4)}`);
  t.notOk(keyHint(key).includes(key.slice(20, 40)));
});
