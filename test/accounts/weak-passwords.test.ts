/**
 * Issue #15, class 8: weak passwords. Sign-up (and `keyward create-account`) refuse, with 400 weak_password
 * saying why, what an attacker tries first: spaces, the email, repeats and sequences, the most common
 * passwords and their usual variants, the account's own words. Length is counted in code points, and the
 * password is used exactly as sent. Through the real app and the real command; nothing stored on a refusal.
 */
import t from 'tap';
import { buildTestApp, signUpRequest } from '../support/app.js';
import { appWithCliEnv, runCli } from '../support/cli-process.js';
import { DatabaseFingerprint, diff } from '../support/database-fingerprint.js';
import { envelopeProblem, errorOf } from '../support/http.js';

const EMAIL = 'ada.lovelace@example.com';
const ACCOUNT = 'Analytical Engines';

t.test('sign-up refuses weak passwords with 400 weak_password, saying why', async (t) => {
  const { app, databaseUrl } = await buildTestApp(t);
  const fingerprint = new DatabaseFingerprint(databaseUrl!);
  t.teardown(() => fingerprint.close());
  const signUp = (password: string, email = EMAIL, accountName = ACCOUNT) =>
    signUpRequest(app, { email, password, accountName });

  const refused: Array<[RegExp, string[]]> = [
    [/only spaces/, [' '.repeat(10), '\t'.repeat(12)]],
    [/email, the account name or "keyward"/, [EMAIL]],
    [/email, the account name/, [EMAIL.toUpperCase(), 'lovelace1815', 'engines12345']],
    [
      /repeats or sequences/,
      [
        'aaaaaaaaaa',
        'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        '1234567890',
        '0987654321',
        'abcdefghij',
        'qwertyuiop',
        'abcabcabcabc',
        'KeywardKeyward',
      ],
    ],
    [/most common passwords/, ['password12', 'Password12', 'P@ssw0rd12!', 'iloveyou2024', 'Summer2024!']],
    [/"keyward"/, ['keyward2024!']],
    [/too short: use at least 10 characters \(this one has 8\)/, ['abcdefgh']],
    [/too short.*this one has 5/, ['🔑🌵🎻🦉🚲']], // 10 UTF-16 units, 5 code points
  ];
  for (const [why, passwords] of refused) {
    for (const password of passwords) {
      const before = await fingerprint.take();
      const response = await signUp(password);
      const label = JSON.stringify(password).slice(0, 40);
      t.equal(response.statusCode, 400, `${label}: 400`);
      t.equal(envelopeProblem(response), undefined, `${label}: envelope`);
      t.equal(errorOf(response).code, 'weak_password', `${label}: weak_password`);
      t.match(errorOf(response).message, why, `${label}: says why`);
      t.same(diff(before, await fingerprint.take()), [], `${label}: nothing stored`);
    }
  }

  const tooLong = await signUp('x'.repeat(100) + 'y'.repeat(157));
  t.equal(tooLong.statusCode, 400, '257 characters: 400');

  const accepted = [
    'correct horse battery',
    '🔑🌵🎻🦉🚲🧭🍋🪐🎲🦔', // 10 code points, 20 UTF-16 units
    'Tr0ub4dor&3 staple',
    'x'.repeat(3) + ' quiet lantern river ' + '🦉'.repeat(3),
  ];
  for (const [index, password] of accepted.entries()) {
    const response = await signUp(password, `ok${index}@example.com`);
    t.equal(response.statusCode, 201, `${JSON.stringify(password)}: accepted`);
  }

  // Never trimmed nor altered: spaces around it are part of it.
  const spaced = '  correct horse battery  ';
  t.equal((await signUp(spaced, 'spaced@example.com')).statusCode, 201);
  const logIn = (password: string) =>
    app.inject({ method: 'POST', url: '/v1/login', payload: { email: 'spaced@example.com', password } });
  t.equal((await logIn(spaced.trim())).statusCode, 401, 'the trimmed password is another password');
  t.equal((await logIn(spaced)).statusCode, 200, 'the password as sent signs in');
});

t.test('weak passwords are refused before the sign-up limits count anything', async (t) => {
  const { app } = await buildTestApp(t, { env: { KEYWARD_SIGNUP_ADDRESS_LIMIT: '2' } });
  const signUp = (password: string, email: string) =>
    signUpRequest(app, { email, password, accountName: 'Limits', address: '203.0.113.7' });
  for (let i = 0; i < 5; i++) t.equal((await signUp('password12', `weak${i}@example.com`)).statusCode, 400);
  t.equal((await signUp('correct horse battery', 'a@example.com')).statusCode, 201, 'the limit is untouched');
  t.equal((await signUp('correct horse battery', 'b@example.com')).statusCode, 201);
  t.equal((await signUp('correct horse battery', 'c@example.com')).statusCode, 429, 'then it applies as before');
});

t.test('keyward create-account: weak passwords, bad emails and blank names are refused', async (t) => {
  const { app, env } = await appWithCliEnv(t);
  const create = (email: string, name: string, password?: string) =>
    runCli(
      ['create-account', '--email', email, '--name', name],
      password === undefined ? env : { ...env, KEYWARD_NEW_PASSWORD: password },
    );
  const refusals: Array<[string, string, string | undefined, RegExp]> = [
    ['ops@example.com', 'Ops', 'x', /KEYWARD_NEW_PASSWORD: The password is too short/],
    ['ops@example.com', 'Ops', 'aaaaaaaaaa', /KEYWARD_NEW_PASSWORD: .*repeats or sequences/],
    ['ops@example.com', 'Ops', 'ops@example.com', /KEYWARD_NEW_PASSWORD: .*built on the email/],
    ['not-an-email', 'Ops', 'correct horse battery', /not a valid email address: not-an-email/],
    ['ops@', 'Ops', undefined, /not a valid email address/],
    ['ops@example.com', '   ', 'correct horse battery', /--name must hold at least one non-space character/],
    ['ops@example.com', '', undefined, /--name must hold/],
  ];
  for (const [email, name, password, why] of refusals) {
    const result = await create(email, name, password);
    t.equal(result.code, 1, `${email} / ${JSON.stringify(name)} / ${password}: refused`);
    t.match(result.output, why, 'and says why');
  }
  const login = (email: string, password: string) =>
    app.inject({ method: 'POST', url: '/v1/login', payload: { email, password } });
  t.equal((await login('ops@example.com', 'x')).statusCode, 401, 'no account was created by a refusal');

  const generated = await create('ops@example.com', 'Ops');
  t.equal(generated.code, 0, generated.output);
  const password = /password \(shown once\): (\S+)/.exec(generated.output)?.[1] ?? '';
  t.ok(password.length >= 20, 'a generated password is printed once');
  t.equal((await login('ops@example.com', password)).statusCode, 200, 'and signs in');
});
