import t from 'tap';
import { signUp } from '../support/app.js';
import { appWithCliEnv, runCli } from '../support/cli-process.js';

/*
 * `keyward set-plan` (issue #26): the operator's per-account limits, enforced by the running instance
 * (whose cache already holds the key) as soon as the command returns; bad arguments are refused, with why,
 * before anything is opened.
 */

t.test('set-plan limits an account on the running instance before it returns, and --default undoes it', async (t) => {
  const { app, env } = await appWithCliEnv(t);
  const user = await signUp(app, 'Planned');
  const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: { cookie: user.cookie }, payload: {} });
  const { apiKey } = created.json();
  const verify = () => app.inject({ method: 'GET', url: '/v1/verify', headers: { 'x-api-key': apiKey } });
  t.equal((await verify()).statusCode, 204, 'cached, with no limit');

  const set = await runCli(['set-plan', user.email, '--requests', '2', '--window', '3600'], env);
  t.equal(set.code, 0, set.output);
  t.match(set.output, /rate limit 2 requests per 3600 s; monthly quota none/);
  t.match(set.output, /1 active key updated/);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await verify()).statusCode);
  t.same(statuses, [204, 204, 429], 'the new limit holds at once on the instance that had the key cached');

  const limits = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie: user.cookie },
    payload: { rateLimit: { requests: 3, windowSeconds: 3600 } },
  });
  t.equal(limits.statusCode, 400, "a key's own limit may not be above its account's");

  const reset = await runCli(['set-plan', user.email, '--default'], env);
  t.equal(reset.code, 0, reset.output);
  t.match(reset.output, /rate limit none; monthly quota none \(the defaults\)/);
  t.equal((await verify()).statusCode, 204, 'back to no limit');
});

t.test('set-plan refuses incomplete or contradictory arguments, saying why', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['set-plan'], /needs an email or an account id/],
    [['set-plan', 'a@example.com', '--requests', '10'], /--requests and --window go together/],
    [['set-plan', 'a@example.com', '--requests', '0', '--window', '60'], /--requests must be a whole number/],
    [['set-plan', 'a@example.com', '--monthly-quota', '1e3'], /--monthly-quota must be a whole number/],
    [['set-plan', 'a@example.com', '--default', '--monthly-quota', '5'], /--default takes no limits/],
    [['set-plan', 'a@example.com'], /needs --requests and --window, --monthly-quota, or --default/],
  ];
  for (const [args, message] of cases) {
    const { code, output } = await runCli(args, {});
    t.not(code, 0, args.join(' '));
    t.match(output, message, args.join(' '));
  }
});
