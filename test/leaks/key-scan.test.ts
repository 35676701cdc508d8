import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import t from 'tap';
import { generateKey, keyHint } from '../../packages/member/src/key-format.js';
import { callMe, createKey, signUp } from '../support/app.js';
import { appWithCliEnv, runCli } from '../support/cli-process.js';

/*
 * `keyward scan` through the real command: it must report the one real key hidden among thousands of
 * look-alikes (wrong checksum, wrong prefix, truncated, glued to other text), skip .git, node_modules and
 * binary files, read standard input, escape file names, never print a key, and exit 1 only when it found one.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NO_DATABASE = { KEYWARD_KEY_PREFIX: 'kw' }; // no DATABASE_URL: scanning must not need one

/** The command with `input` on its standard input. */
async function runCliWithStdin(args: string[], input: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...NO_DATABASE },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(input);
  const [code] = await once(child, 'exit');
  return { code: code as number | null, output };
}

/** Strings that look like keys of `kw` but are not (or not of this deployment). */
function lookAlikes(): string[] {
  const { key } = generateKey('kw');
  const last = key.at(-1)!;
  return [
    key.slice(0, -1) + (last === 'a' ? 'b' : 'a'), // wrong checksum
    key.slice(0, 20) + (key[20] === 'x' ? 'y' : 'x') + key.slice(21), // a secret character mistyped
    'kx' + key.slice(2), // another prefix
    'KW' + key.slice(2),
    generateKey('kwx').key, // a longer prefix ending in the same letters
    key.slice(0, -1), // truncated
    key.slice(1), // truncated at the start: "w_…"
    `a${key}`, // glued to text before
    `${key}0`, // glued to text after
    `${key}_suffix`,
  ];
}

function lines(count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`const value${i} = "${lookAlikes().join('", "')}";`);
  return out.join('\n') + '\n';
}

t.test('finds the one real key among thousands of look-alikes, skipping .git, node_modules and binaries', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'keyward-scan-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const real = generateKey('kw').key;
  let lookAlikeCount = 0;
  for (const folder of ['src', 'src/api', 'src/api/v1', 'docs', 'test/fixtures', 'packages/a/lib']) {
    mkdirSync(join(root, folder), { recursive: true });
    for (let file = 0; file < 5; file++) {
      writeFileSync(join(root, folder, `file${file}.ts`), lines(10));
      lookAlikeCount += 10 * lookAlikes().length;
    }
  }
  const config = join(root, 'src', 'api', 'v1', 'config.ts');
  writeFileSync(config, `${lines(41)}export const apiKey = '${real}'; // the leak\n${lines(5)}`);
  lookAlikeCount += 46 * lookAlikes().length;
  // Real keys where the scan must not look, or must not read.
  for (const folder of ['.git/objects/ab', 'node_modules/some-package', 'packages/a/node_modules/dep']) {
    mkdirSync(join(root, folder), { recursive: true });
    writeFileSync(join(root, folder, 'index.js'), `module.exports = '${generateKey('kw').key}';\n`);
  }
  writeFileSync(
    join(root, 'image.bin'),
    Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(generateKey('kw').key)]),
  );

  const { code, output } = await runCli(['scan', root], NO_DATABASE);
  const reported = output.split('\n').filter((line) => line.includes(': kw_'));
  t.same(reported, [`${config}:42: ${keyHint(real)}`], `exactly the real key, among ${lookAlikeCount} look-alikes`);
  t.equal(code, 1, 'exit 1: a key was found');
  t.notOk(output.includes(real.slice(-39)), 'the secret is never printed');
  t.comment(output.split('\n').find((line) => line.includes('found')));

  rmSync(config);
  const clean = await runCli(['scan', root], NO_DATABASE);
  t.equal(clean.code, 0, 'exit 0 when only look-alikes are left');
  t.notMatch(clean.output, /: kw_/);

  const everything = await runCli(['scan', '--all', root], NO_DATABASE);
  t.equal(
    everything.output.split('\n').filter((line) => line.includes(': kw_')).length,
    3,
    '--all looks inside .git and node_modules too (the binary file stays skipped)',
  );
});

t.test('reads standard input with -', async (t) => {
  const real = generateKey('kw').key;
  const { code, output } = await runCliWithStdin(['scan', '-'], `${lines(2)}token=${real}\n${lines(3)}`);
  t.equal(code, 1);
  t.match(output, `<stdin>:3: ${keyHint(real)}`);
  t.notOk(output.includes(real), 'the key is never printed');
  const clean = await runCliWithStdin(['scan', '-'], lines(20));
  t.equal(clean.code, 0);
});

t.test('control characters in file names are escaped', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'keyward-scan-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const name = 'evil\u001b[2J\rname\u202e.txt';
  writeFileSync(join(root, name), `${generateKey('kw').key}\n`);
  const { code, output } = await runCli(['scan', root], NO_DATABASE, 'latin1');
  t.equal(code, 1);
  t.match(output, 'evil\\x1b[2J\\x0dname\\u202e.txt:1: kw_');
  t.notOk(output.includes('\u001b'), 'no raw escape reaches the terminal');
  t.notOk(output.includes('\r'), 'no raw carriage return');
});

t.test('--revoke revokes the keys found, fleet-wide, audited as cli', async (t) => {
  const { app, env, databaseUrl } = await appWithCliEnv(t);
  const { cookie } = await signUp(app);
  const { apiKey, keyId } = await createKey(app, cookie);
  const lookAlike = generateKey('kw', keyId).key; // a real id, another secret: not revoked, nor an error
  t.equal((await callMe(app, apiKey)).statusCode, 200);
  const root = mkdtempSync(join(tmpdir(), 'keyward-scan-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, '.env'), `API_KEY=${apiKey}\nOTHER=${lookAlike}\n`);

  const { code, output } = await runCli(['scan', '--revoke', root], env);
  t.equal(code, 1, output);
  t.match(output, `revoked ${keyHint(apiKey)}`);
  t.match(output, `${keyHint(lookAlike)}: not a key of this deployment's database`);
  t.equal((await callMe(app, apiKey)).statusCode, 401, 'the key is refused once the command returned');
  const sql = postgres(databaseUrl!, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end());
  const [row] = await sql<{ actor_email: string }[]>`
    SELECT actor_email FROM audit_events WHERE action = 'key.revoked' AND key_id = ${keyId}`;
  t.match(row?.actor_email, /^cli:/);
});
