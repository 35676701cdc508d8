import { readFileSync } from 'node:fs';
import t from 'tap';
import { EnvSchema } from '../src/env.js';
import { keyPattern } from '../packages/member/src/key-format.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('every environment variable is documented in the README configuration table', async (t) => {
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(readme, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name);
  }
});

t.test('the README documents the key regex the code uses', async (t) => {
  t.ok(readme.includes(keyPattern('kw').source));
});
