import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildTestApp, createKey, registerWebhook, signUp } from '../support/app.js';
import { TEST_ARGON2 } from '../support/services.js';
import { runCli } from '../support/cli-process.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery } from '../support/webhook-receiver.js';

/*
 * `keyward revoke-key` (a real process) writes the outbox in its transaction, leaves sending to the servers,
 * and the event says the reason in the API's words: revoked.
 */
t.test('a revocation at the command line is told with reason revoked, sent by a server', async (t) => {
  const secret = randomBytes(32).toString('base64url');
  const { app, runtime } = await buildTestApp(t, { env: { ...FAST_WEBHOOKS, KEYWARD_SECRET: secret } });
  const user = await signUp(app);
  const receiver = await startReceiver(t);
  const registered = await registerWebhook(app, user.cookie, receiver.url);
  const signingSecret = registered.json().secret as string;
  const key = await createKey(app, user.cookie, 'leaked');
  const { code, output } = await runCli(['revoke-key', key.apiKey], {
    ...TEST_ARGON2,
    DATABASE_URL: runtime.env.DATABASE_URL!,
    REDIS_URL: runtime.env.REDIS_URL!,
    REDIS_KEY_PREFIX: runtime.env.REDIS_KEY_PREFIX,
    KEYWARD_SECRET: secret,
  });
  t.equal(code, 0, output);
  t.ok(await receiver.waitFor(1, 'key.revoked'), 'delivered');
  const revoked = receiver.events('key.revoked');
  t.match(revoked, [{ data: { keyId: key.keyId, reason: 'revoked' } }]);
  const request = receiver.requests.find((candidate) => candidate.body.includes('"key.revoked"'))!;
  t.doesNotThrow(() => verifyDelivery(signingSecret, request));
  t.notOk(request.body.includes(key.apiKey.split('_')[2]!), 'no key in the body');
  t.notOk(output.includes(signingSecret.slice(6)));
});
