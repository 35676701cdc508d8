import t from 'tap';
import { launchChromium, openPage, signUpInBrowser, startKeyward, waitForText } from '../support/browser.js';

/*
 * A key close to its expiry, as its owner sees it on the API keys page: the badge says when, and a warning
 * under it says what to do, from 7 days before (the `key.expiring` webhook's first notice). A real keyward
 * process and headless Chromium.
 */

t.setTimeout(300_000);

t.test('a key expiring within 7 days carries a warning; one expiring later does not', async (t) => {
  const browser = await launchChromium(t);
  const server = await startKeyward(t);
  const { page, problems } = await openPage(browser, server);
  await signUpInBrowser(page, 'expiring@example.com');
  await waitForText(page.locator('[data-active-keys]'), /No active keys/);

  for (const [name, days] of [
    ['short-lived', 3],
    ['long-lived', 10],
  ] as const) {
    const created = await page.request.post('/v1/keys', { data: { name, expiresInSeconds: days * 86_400 } });
    t.equal(created.status(), 201);
  }
  await page.reload();

  const shortRow = page.locator('[data-active-keys] tr', { hasText: 'short-lived' });
  const status = await waitForText(shortRow.locator('td[data-label="Status"]'), /Expires in 3 days/);
  t.match(status, /Generate a replacement and move your services to it before then\./);
  t.equal(await shortRow.locator('[data-expiry-warning] .icon').count(), 1, 'with the warning icon');

  const longRow = page.locator('[data-active-keys] tr', { hasText: 'long-lived' });
  await waitForText(longRow.locator('td[data-label="Status"]'), /Expires in 10 days/);
  t.equal(await longRow.locator('[data-expiry-warning]').count(), 0, 'no warning 10 days ahead');
  t.same(problems, { errors: [], foreignRequests: [] });
});
