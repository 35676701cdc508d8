import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { sql } from 'drizzle-orm';
import t from 'tap';
import { buildTestApp, createKey, registerWebhook, signUp } from '../support/app.js';
import { eventually } from '../support/wait.js';
import { webhookEndpoints } from '../../src/db/schema.js';
import {
  checkWebhookUrl,
  connectLookup,
  isPublicAddress,
  WebhookAddressRefused,
} from '../../src/webhooks/address-policy.js';
import { generateSigningSecret, SigningSecretBox } from '../../src/webhooks/signing.js';
import { startReceiver } from '../support/webhook-receiver.js';

/*
 * SSRF: without KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS, webhook URLs that are (or resolve to) loopback,
 * private, link-local, CGNAT, multicast or unspecified addresses are refused when registered and again when
 * delivered, on the address the connection really uses; `http` is refused too.
 */

const PRIVATE_URLS = [
  'https://127.0.0.1/hook',
  'https://127.8.9.10/hook',
  'https://localhost/hook', // a name resolving to loopback
  'https://[::1]/hook',
  'https://10.1.2.3/hook',
  'https://172.16.5.4/hook',
  'https://192.168.1.1/hook',
  'https://169.254.169.254/latest/meta-data/', // cloud metadata
  'https://100.64.0.1/hook', // CGNAT
  'https://0.0.0.0/hook',
  'https://[::]/hook',
  'https://224.0.0.1/hook', // multicast
  'https://[ff02::1]/hook',
  'https://[fe80::1]/hook', // IPv6 link-local
  'https://[fd12:3456::1]/hook', // IPv6 unique local
  'https://[::ffff:127.0.0.1]/hook', // IPv4-mapped
  'https://[::ffff:7f00:1]/hook',
  'https://[::ffff:169.254.169.254]/hook',
  'https://[64:ff9b::a00:1]/hook', // NAT64 of 10.0.0.1
  // Issue 29: internal addresses in IPv6 clothing.
  'https://[64:ff9b:1::7f00:1]/', // local-use NAT64 (RFC 8215) of 127.0.0.1
  'https://[64:ff9b:1::a9fe:a9fe]/', // … of 169.254.169.254
  'https://[::ffff:0:7f00:1]/', // SIIT IPv4-translated 127.0.0.1
  'https://[2002:7f00:1::]/', // 6to4 of 127.0.0.1
  'https://[2002:a9fe:a9fe::]/', // 6to4 of 169.254.169.254
  'https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', // Teredo, client 127.0.0.1
  'https://[::127.0.0.1]/', // IPv4-compatible (deprecated)
  'https://[2001:db8::1]/', // documentation
  'https://192.0.2.1/', // documentation (TEST-NET-1)
  'https://2130706433/hook', // decimal 127.0.0.1
  'https://0x7f000001/hook', // hex
  'https://0x7f.1/hook',
  'https://017700000001/hook', // octal
  'https://3232235777/hook', // decimal 192.168.1.1
];

t.test('private, loopback and link-local URLs are refused at registration', async (t) => {
  const { app } = await buildTestApp(t);
  const user = await signUp(app);
  for (const url of PRIVATE_URLS) {
    const response = await registerWebhook(app, user.cookie, url);
    t.equal(response.statusCode, 400, url);
    t.equal(response.json().error.code, 'webhook_url_refused', url);
  }
  for (const url of [
    'http://93.184.215.14/hook',
    'ftp://93.184.215.14/',
    'not a url',
    'https://user:pw@93.184.215.14/',
  ]) {
    const response = await registerWebhook(app, user.cookie, url);
    t.equal(response.statusCode, 400, url);
    t.equal(response.json().error.code, 'webhook_url_refused', url);
  }
  const http = await registerWebhook(app, user.cookie, 'http://93.184.215.14/hook');
  t.match(http.json().error.message, /must use https/);
  const clothed = await registerWebhook(app, user.cookie, 'https://[2002:a9fe:a9fe::]/');
  t.match(clothed.json(), {
    error: { code: 'webhook_url_refused', message: /6to4 carrying 169\.254\.169\.254/, requestId: String },
  });
  const list = await app.inject({ method: 'GET', url: '/v1/webhooks', headers: { cookie: user.cookie } });
  t.same(list.json().webhooks, [], 'nothing was registered');

  const publicUrl = await registerWebhook(app, user.cookie, 'https://93.184.215.14/hook');
  t.equal(publicUrl.statusCode, 201, 'a public address is admitted');
});

t.test('the address classification', async (t) => {
  for (const address of [
    '127.0.0.1',
    '10.0.0.1',
    '169.254.169.254',
    '100.127.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b:1::7f00:1',
    '::ffff:0:7f00:1',
    '2002:a9fe:a9fe::',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    '255.255.255.255',
    'not-an-ip',
  ]) {
    t.notOk(isPublicAddress(address), `${address} is not public`);
  }
  for (const address of [
    '93.184.215.14',
    '8.8.8.8',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1', // 6to4 of 8.8.8.8
  ]) {
    t.ok(isPublicAddress(address), `${address} is public`);
  }
});

/** A resolver the test controls: its answers change between calls, like a rebinding DNS. */
function rebindingResolver(answers: string[][]) {
  let call = 0;
  return async (): Promise<LookupAddress[]> => {
    const addresses = answers[Math.min(call++, answers.length - 1)]!;
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

t.test('a name is checked on every address it resolves to, and again when connecting (DNS rebinding)', async (t) => {
  const policy = { allowPrivateNetworks: false };
  await t.rejects(
    checkWebhookUrl('https://mixed.example/', policy, rebindingResolver([['93.184.215.14', '127.0.0.1']])),
    WebhookAddressRefused,
    'one private address among public ones is refused',
  );
  const resolve = rebindingResolver([['93.184.215.14'], ['127.0.0.1']]);
  t.ok(await checkWebhookUrl('https://rebind.example/', policy, resolve), 'public at registration');

  // At connect time the same name now answers loopback: the connection is refused before it is made.
  const receiver = await startReceiver(t);
  const port = new URL(receiver.url).port;
  const post = (lookup: ReturnType<typeof connectLookup>) =>
    new Promise<number>((done, fail) => {
      const sent = request(
        `http://rebind.example:${port}/hook`,
        { method: 'POST', agent: false, lookup: lookup as never },
        (response) => {
          done(response.statusCode ?? 0);
          response.resume();
        },
      );
      sent.on('error', fail);
      sent.end('{}');
    });
  const error = (await post(connectLookup(policy, resolve)).catch(
    (caught: unknown) => caught,
  )) as NodeJS.ErrnoException;
  t.equal(error.code, 'KW_WEBHOOK_ADDRESS_REFUSED');
  t.equal(receiver.requests.length, 0, 'nothing reached the loopback receiver');
  // A name answering an internal address in IPv6 clothing (issue 29) is refused at connect time too.
  for (const clothed of ['64:ff9b:1::7f00:1', '::ffff:0:7f00:1', '2002:7f00:1::', '2002:a9fe:a9fe::']) {
    const refused = (await post(connectLookup(policy, rebindingResolver([[clothed]]))).catch(
      (caught: unknown) => caught,
    )) as NodeJS.ErrnoException;
    t.equal(refused.code, 'KW_WEBHOOK_ADDRESS_REFUSED', clothed);
  }
  // With private networks allowed, the same lookup connects to the address it resolved.
  t.equal(await post(connectLookup({ allowPrivateNetworks: true }, rebindingResolver([['127.0.0.1']]))), 200);
  t.equal(receiver.requests.length, 1);
});

t.test('deliveries to private addresses are refused at delivery time too', async (t) => {
  // An endpoint registered while its name was public, or before the setting was turned off: the worker still refuses.
  const { app, runtime } = await buildTestApp(t, {
    env: { KEYWARD_WEBHOOK_POLL_INTERVAL_MS: '50', KEYWARD_WEBHOOK_BACKOFF_BASE_MS: '60000' },
  });
  const user = await signUp(app);
  const receiver = await startReceiver(t);
  const port = new URL(receiver.url).port;
  const box = new SigningSecretBox(runtime.serverSecret);
  const urls = [`https://127.0.0.1:${port}/hook`, `https://localhost:${port}/hook`, `http://127.0.0.1:${port}/hook`];
  for (const url of urls) {
    const id = randomUUID();
    await runtime.database.db.insert(webhookEndpoints).values({
      id,
      accountId: user.accountId,
      url,
      secretCiphertext: box.seal(generateSigningSecret(), id),
    });
  }
  await createKey(app, user.cookie);
  const attempts = async () =>
    (await runtime.database.db.execute(
      sql`SELECT e.url, a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints e ON e.id = d.endpoint_id`,
    )) as unknown as Array<{ url: string; error: string | null }>;
  t.ok(await eventually(async () => (await attempts()).length === urls.length, 10_000), 'each delivery was attempted');
  for (const attempt of await attempts()) {
    t.match(attempt.error, /loopback, private|must use https/, attempt.url);
  }
  t.equal(receiver.requests.length, 0, 'no request reached the loopback receiver');
});
