import t from 'tap';
import { signUp } from '../support/app.js';
import { appWithCliEnv, runCli as cli } from '../support/cli-process.js';

// Issue #28: a way back in for a user who forgot their password, run by the operator.
t.test('keyward reset-password: a new password, every session signed out, audited', async (t) => {
  const { app, env } = await appWithCliEnv(t);
  const user = await signUp(app);
  const logIn = (password: string) =>
    app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password } });
  const laptop = await logIn(user.password);
  const laptopCookie = `keyward_session=${laptop.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  const signedIn = async (cookie: string) =>
    (await app.inject({ url: '/v1/session', headers: { cookie } })).statusCode === 200;

  const help = await cli(['reset-password', '--help'], env);
  t.equal(help.code, 0);
  t.match(help.output, /reset-password <email>/);

  const nobody = await cli(['reset-password', 'nobody@example.com'], env);
  t.equal(nobody.code, 1);
  t.match(nobody.output, /no user with the email nobody@example\.com/);
  const none = await cli(['reset-password'], env);
  t.equal(none.code, 1);
  t.match(none.output, /needs one email/);

  const weak = await cli(['reset-password', user.email], { ...env, KEYWARD_NEW_PASSWORD: 'password12' });
  t.equal(weak.code, 1);
  t.match(weak.output, /KEYWARD_NEW_PASSWORD: /);
  t.ok(await signedIn(user.cookie), 'a refused password changes nothing');

  const chosen = await cli(['reset-password', user.email.toUpperCase()], {
    ...env,
    KEYWARD_NEW_PASSWORD: 'a passphrase the operator chose',
  });
  t.equal(chosen.code, 0, chosen.output);
  t.match(chosen.output, /reset; 2 sessions signed out/);
  t.notMatch(chosen.output, /shown once/, 'a given password is not printed');
  t.notOk(await signedIn(user.cookie), 'the old sessions are gone');
  t.notOk(await signedIn(laptopCookie));
  t.equal((await logIn(user.password)).statusCode, 401, 'the old password no longer works');
  t.equal((await logIn('a passphrase the operator chose')).statusCode, 200, 'the new one does');

  const generated = await cli(['reset-password', user.email], env);
  t.equal(generated.code, 0, generated.output);
  const password = /password \(shown once\): (\S+)/.exec(generated.output)?.[1];
  t.ok(password, 'a generated password is printed once');
  t.match(generated.output, /1 session signed out/);
  const login = await logIn(password!);
  t.equal(login.statusCode, 200, 'the user signs in with it');

  const cookie = `keyward_session=${login.cookies.find((c) => c.name === 'keyward_session')!.value}`;
  const audit = await app.inject({ url: '/v1/audit', headers: { cookie } });
  const changes = audit.json().events.filter((event: { action: string }) => event.action === 'password.changed');
  t.equal(changes.length, 2);
  t.match(changes[0].actor, /^cli:/, 'recorded as the operator');
});
