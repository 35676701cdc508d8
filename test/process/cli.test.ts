import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildTestApp, callMe, createKey, signUp, TEST_ARGON2 } from '../helper.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, output };
}

t.test('keyward CLI: migrate, create-account, list-keys, revoke-key (by key and by id)', async (t) => {
  const secret = randomBytes(32).toString('base64url');
  const { app, runtime } = await buildTestApp(t, { env: { KEYWARD_SECRET: secret } });
  const env = {
    ...TEST_ARGON2,
    DATABASE_URL: runtime.env.DATABASE_URL!,
    REDIS_URL: runtime.env.REDIS_URL!,
    REDIS_KEY_PREFIX: runtime.env.REDIS_KEY_PREFIX,
    KEYWARD_SECRET: secret,
  };

  const migrate = await cli(['migrate'], env);
  t.equal(migrate.code, 0, migrate.output);
  t.match(migrate.output, /migrations applied/);

  const created = await cli(['create-account', '--email', 'ops@example.com', '--name', 'Ops'], {
    ...env,
    KEYWARD_SIGNUP: 'closed',
  });
  t.equal(created.code, 0, created.output);
  const password = /password \(shown once\): (\S+)/.exec(created.output)?.[1];
  t.ok(password, 'a generated password is printed once');
  const login = await app.inject({ method: 'POST', url: '/v1/login', payload: { email: 'ops@example.com', password } });
  t.equal(login.statusCode, 200, 'the new user can sign in');

  const user = await signUp(app);
  const leaked = await createKey(app, user.cookie, 'leaked');
  const other = await createKey(app, user.cookie, 'other');
  await callMe(app, leaked.apiKey); // hot in the running instance's cache

  const list = await cli(['list-keys', user.email], env);
  t.equal(list.code, 0, list.output);
  t.match(list.output, leaked.keyId);
  t.match(list.output, other.keyId);
  t.notMatch(list.output, leaked.apiKey.slice(-39, -6), 'never a secret');

  const revoke = await cli(['revoke-key', leaked.apiKey], env);
  t.equal(revoke.code, 0, revoke.output);
  t.match(revoke.output, /revoked/);
  t.equal((await callMe(app, leaked.apiKey)).statusCode, 401, 'the running instance refuses it at once');

  const byId = await cli(['revoke-key', other.keyId], env);
  t.equal(byId.code, 0, byId.output);
  t.equal((await callMe(app, other.apiKey)).statusCode, 401);

  const audit = await app.inject({ url: '/v1/audit', headers: { cookie: user.cookie } });
  const revocations = audit.json().events.filter((event: { action: string }) => event.action === 'key.revoked');
  t.equal(revocations.length, 2);
  t.match(revocations[0].actor, /^cli:/, 'recorded as the operator');

  const forged = await cli(['revoke-key', 'kw_' + leaked.keyId + '_' + 'A'.repeat(39)], env);
  t.equal(forged.code, 1, 'a string that is not a real key is refused');
  const unknown = await cli(['list-keys', 'nobody@example.com'], env);
  t.equal(unknown.code, 1);
  t.match(unknown.output, /no account/);
  const help = await cli(['nonsense'], env);
  t.equal(help.code, 2);
  t.match(help.output, /usage: keyward/);
});

t.test('with sign-up closed, POST /v1/signup answers 403 signup_closed', async (t) => {
  const { app } = await buildTestApp(t, { embedded: true, env: { KEYWARD_SIGNUP: 'closed' } });
  const response = await app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { email: 'new@example.com', password: 'correct horse battery', accountName: 'New' },
  });
  t.equal(response.statusCode, 403);
  t.equal(response.json().error.code, 'signup_closed');
});
