import t from 'tap';
import { buildTestApp, callMe, createKey, signUp, signUpRequest } from '../support/app.js';
import { appWithCliEnv, runCli as cli } from '../support/cli-process.js';

t.test('keyward CLI: migrate, create-account, list-keys, revoke-key (by key and by id)', async (t) => {
  const { app, env } = await appWithCliEnv(t);

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
  const response = await signUpRequest(app, { email: 'new@example.com', accountName: 'New' });
  t.equal(response.statusCode, 403);
  t.equal(response.json().error.code, 'signup_closed');
});
