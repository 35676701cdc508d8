import { readFileSync } from 'node:fs';
import t from 'tap';
import { EnvSchema } from '../src/env.js';
import { keyPattern } from '../packages/member/src/key-format.js';

const configuration = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
const keyFormat = readFileSync(new URL('../docs/guide.md', import.meta.url), 'utf8');

t.test('every environment variable is documented in the configuration table', async (t) => {
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(configuration, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name);
  }
});

t.test('the key format documents the key regex the code uses', async (t) => {
  t.ok(keyFormat.includes(keyPattern('kw').source));
});
