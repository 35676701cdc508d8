import t from 'tap';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually } from '../support/wait.js';
import { FAST_WEBHOOKS, startReceiver, verifyDelivery } from '../support/webhook-receiver.js';
import { launchChromium, openPage, screenshot, signUpInBrowser, waitForText } from '../support/browser.js';

/*
 * The Webhooks page in Chromium: add an endpoint, copy its signing secret (shown once), see a key change's
 * delivery and its attempts (a receiver that fails first, then answers), delete the endpoint.
 */
t.test('webhooks page: add, secret shown once, deliveries and attempts, delete', async (t) => {
  const server = await startKeywardProcess(t, FAST_WEBHOOKS);
  const browser = await launchChromium(t);
  const { page, problems } = await openPage(browser, server);
  const receiver = await startReceiver(t, 500);

  await signUpInBrowser(page, 'webhooks@example.com');
  await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.waitForURL('**/settings/webhooks');
  await waitForText(page.locator('[data-endpoints]'), /No endpoints yet/);

  // An http URL on loopback is admitted only because the test server allows private networks.
  await page.getByLabel('Endpoint URL').fill(receiver.url);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const secretField = page.locator('[data-webhook-secret]');
  await secretField.waitFor();
  const secret = await secretField.inputValue();
  t.match(secret, /^whsec_/);
  await page.getByRole('button', { name: 'Copy' }).click();
  t.equal(
    await page.evaluate<string>('navigator.clipboard.readText()'),
    secret,
    'Copy puts the secret on the clipboard',
  );
  await waitForText(page.locator('[data-endpoints]'), new RegExp(receiver.url.replace(/[/.]/g, '\\$&')));
  await page.getByRole('button', { name: "Done, I've saved it" }).click();
  t.equal(await page.locator('[data-webhook-secret]').count(), 0, 'the secret leaves the page');

  // A key change: the receiver fails twice, then answers.
  const created = await page.request.post('/v1/keys', { data: { name: 'production' } });
  t.equal(created.status(), 201);
  t.ok(await eventually(() => receiver.requests.length >= 2, 10_000), 'retried');
  receiver.answer = 200;
  await page.reload();
  const row = page.locator('tr[data-delivery="key.created"]');
  await waitForText(row, /Delivered/);
  await row.locator('summary').click();
  const attempts = await waitForText(row.locator('ol.attempts'), /HTTP 500.*HTTP 200/);
  t.match(attempts, /HTTP 500 · \d+ ms · next try/);
  t.doesNotThrow(() => verifyDelivery(secret, receiver.requests.at(-1)!), 'the copied secret verifies deliveries');
  await screenshot(page, 'webhooks.png');

  await page.getByRole('button', { name: `Delete endpoint ${receiver.url}` }).click();
  await page.getByRole('button', { name: 'Delete endpoint', exact: true }).click();
  await waitForText(page.locator('[data-endpoints]'), /No endpoints yet/);
  const list = await (await page.request.get('/v1/webhooks')).json();
  t.same(list.webhooks, []);

  // Refused URLs are explained on the page.
  await page.getByLabel('Endpoint URL').fill('ftp://example.com/');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await waitForText(page.locator('[data-add-alert]'), /must use https/);

  t.same(problems, { errors: [], foreignRequests: [] }, 'no script errors, CSP violations or foreign requests');
});
