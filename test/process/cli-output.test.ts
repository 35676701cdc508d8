/**
 * Issue #15, class 9: customer text (key names, emails) reaches an operator's terminal through the keyward
 * command. Names holding ESC sequences, BEL, CR, LF, C1 controls or bidi overrides are shown escaped, so they
 * can neither drive the terminal nor forge a line of the command's output.
 */
import t from 'tap';
import { createKey, signUp } from '../support/app.js';
import { appWithCliEnv, runCli } from '../support/cli-process.js';

const cli = (args: string[], env: Record<string, string>) => runCli(args, env, 'latin1');

/** Bytes a terminal acts on, other than the newlines that end the command's own lines (UTF-8 bytes of U+202E etc. included). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_BYTES = /[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]|\xd8\x9c/;

const HOSTILE_NAMES = [
  '\x1b[2J\x1b[Hcleared', // clear the screen
  '\x1b]0;pwned\x07title', // retitle the window (OSC, BEL)
  'ok\rrevoked kw_fake (forged) of account 0', // overwrite the line
  'two\nlines: revoked everything', // forge a line
  '\x9b31mC1 CSI', // C1 control
  'bidi \u202etxt.exe', // right-to-left override
  'sep\u2028arated',
];

t.test('list-keys and revoke-key print hostile key names escaped', async (t) => {
  const { app, env } = await appWithCliEnv(t);
  // Two hostile names per account (its two keys), each account listed once; one CLI run costs seconds.
  const revokable: string[] = [];
  for (let index = 0; index < HOSTILE_NAMES.length; index += 2) {
    const user = await signUp(app, `Hostile ${index}`);
    const names = HOSTILE_NAMES.slice(index, index + 2);
    for (const name of names) revokable.push((await createKey(app, user.cookie, name)).apiKey);
    const listed = await cli(['list-keys', user.email], env);
    t.equal(listed.code, 0, `list-keys exits 0`);
    t.notMatch(
      listed.output,
      CONTROL_BYTES,
      `list-keys, names ${index} and ${index + 1}: no control character printed`,
    );
    t.equal(listed.output.trimEnd().split('\n').length, 1 + names.length, 'a header and one line per key');
    if (index === 0)
      t.match(listed.output, /\\x1b\[2J\\x1b\[Hcleared/, 'an escape is shown as text, for the operator to see');
  }
  // The names that clear the screen, overwrite a line and forge one.
  for (const apiKey of revokable.slice(0, 4)) {
    const revoked = await cli(['revoke-key', apiKey], env);
    t.equal(revoked.code, 0, `revoke-key exits 0`);
    t.notMatch(revoked.output, CONTROL_BYTES, 'revoke-key: no control character printed');
    t.equal(revoked.output.trimEnd().split('\n').length, 1, 'exactly one line');
    t.match(revoked.output, /^revoked kw_/, 'the line is the command’s own');
  }

  const created = await cli(['create-account', '--email', 'ops\x1b[2J@example.com', '--name', 'Ops\x07'], {
    ...env,
    KEYWARD_NEW_PASSWORD: 'a long enough operator passphrase',
  });
  t.notMatch(created.output, CONTROL_BYTES, 'create-account: no control character printed');
  const unknown = await cli(['\x1b[2Jnope'], env);
  t.notMatch(unknown.output, CONTROL_BYTES, 'an unknown command is echoed escaped');
});

// Issue 28: every command printed the server's JSON "single-instance mode" warning.
t.test('commands print for people: no JSON log line, a warning only where it matters', async (t) => {
  const { app, env } = await appWithCliEnv(t);
  const { REDIS_URL: _redis, ...withoutRedis } = env;
  const user = await signUp(app);
  const key = await createKey(app, user.cookie, 'production');

  const list = await runCli(['list-keys', user.email], withoutRedis);
  t.equal(list.code, 0, list.output);
  t.notMatch(list.output, /"level"|single-instance/, 'reading: no log line at all');

  const revoke = await runCli(['revoke-key', key.keyId], withoutRedis);
  t.equal(revoke.code, 0, revoke.output);
  t.notMatch(revoke.output, /"level"/, 'no JSON');
  t.match(
    revoke.output,
    /^keyward: warning: single-instance mode: REDIS_URL is unset/m,
    'revoking on Postgres without Redis: servers cannot hear of it, and the command says so in words',
  );
});
