import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TEST_ARGON2 } from '../support/services.js';
import { startServer } from '../support/server-process.js';

/*
 * Issue 28: the README's walkthrough used literal placeholders (`kw_4ZbQ0cXw9LmT2pVa_…`) that answered 401
 * when pasted. Here its shell block runs as written, with bash, against a real server on a fresh data folder;
 * only the line that says where keyward listens is pointed at this server's port.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LISTEN_LINE = /^KEYWARD=http:\/\/localhost:3000\b.*$/m;

/** The first ```sh block after the "Try it end to end" heading. */
function walkthrough(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Try it end to end'));
  const block = /^```sh\n([\s\S]*?)^```/m.exec(section)?.[1];
  if (!block) throw new Error('README.md: no sh block under "Try it end to end"');
  return block;
}

t.test('the README walkthrough, pasted, ends with a working key and then a revoked one', async (t) => {
  const script = walkthrough();
  t.match(script, LISTEN_LINE, 'the block says where keyward listens, in one line');
  const commands = script.replace(/(^|\s)#.*$/gm, ''); // the comments may show answers with …
  t.notMatch(commands, /…/, 'no placeholder left for the reader to fill in');

  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-readme-'));
  const workDir = mkdtempSync(join(tmpdir(), 'keyward-readme-shell-'));
  t.teardown(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });
  const server = await startServer({ KEYWARD_DATA_DIR: dataDir, ...TEST_ARGON2 });
  t.teardown(() => server.stop('SIGKILL'));

  const shell = spawn('bash', ['-e', '-o', 'pipefail', '-s'], {
    cwd: workDir, // the cookie jar lands here
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  shell.stdin.end(script.replace(LISTEN_LINE, `KEYWARD=${server.url}`));
  const [code] = await once(shell, 'exit');
  t.equal(code, 0, `the block ran to its end\n${stdout}\n${stderr}`);

  const answers = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { keyId?: string; apiKey?: string; error?: { code: string } });
  t.equal(answers.length, 6, 'one answer per curl that prints one');
  const [signedUp, me, second, third, revoked, afterRevoke] = answers;
  t.ok(signedUp, 'signed up');
  t.ok(me?.keyId, 'the key works: /v1/me names it');
  t.ok(second?.apiKey, 'a second key');
  t.equal(third?.error?.code, 'key_limit_reached', 'a third is refused');
  t.ok(revoked, 'the first key revoked');
  t.equal(afterRevoke?.error?.code, 'api_key_revoked', 'and then refused as revoked');
});
