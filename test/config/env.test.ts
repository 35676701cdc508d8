import t from 'tap';
import { ConfigError, loadEnv } from '../../src/config/env.js';

t.test('defaults give the embedded quick start', async (t) => {
  const env = loadEnv({});
  t.equal(env.PORT, 3000);
  t.equal(env.DATABASE_URL, undefined);
  t.equal(env.REDIS_URL, undefined);
  t.equal(env.KEYWARD_KEY_PREFIX, 'kw');
  t.same([env.KEYWARD_ARGON2_MEMORY_KIB, env.KEYWARD_ARGON2_TIME_COST, env.KEYWARD_ARGON2_PARALLELISM], [19456, 2, 1]);
});

t.test('values are converted from strings; empty means unset', async (t) => {
  const env = loadEnv({ PORT: '8080', KEYWARD_COOKIE_SECURE: 'false', DATABASE_URL: '' });
  t.equal(env.PORT, 8080);
  t.equal(env.KEYWARD_COOKIE_SECURE, false);
  t.equal(env.DATABASE_URL, undefined);
});

t.test('a bad value stops start-up with a message naming the variable, never echoing secrets', async (t) => {
  const error = t.throws(() =>
    loadEnv({ PORT: 'eighty', KEYWARD_SECRET: 'too-short-secret', DATABASE_URL: 'mysql://u:pw@h/db' }),
  ) as Error;
  t.type(error, ConfigError);
  t.match(error.message, /PORT="eighty"/);
  t.match(error.message, /KEYWARD_SECRET=\(hidden\)/);
  t.match(error.message, /DATABASE_URL=\(hidden\)/);
  t.notMatch(error.message, /too-short-secret|pw@/);
});

t.test('a key prefix that would break the key format is refused', async (t) => {
  t.throws(() => loadEnv({ KEYWARD_KEY_PREFIX: 'sk_live' }), /KEYWARD_KEY_PREFIX/);
  t.throws(() => loadEnv({ KEYWARD_KEY_PREFIX: 'Toolongprefixxxxxx' }), /KEYWARD_KEY_PREFIX/);
});
