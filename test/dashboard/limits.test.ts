/**
 * Rate limits and the monthly quota on the API keys page (issue #26): the "Limits" card with the account's
 * window and quota, a key's own limit set in the generate dialog (and refused above the account's, on the field),
 * shown in its row, and the quota warning at 80 %, at 1280 and 390 px, light and dark.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import t from 'tap';
import { ARTIFACTS_DIR, launchChromium, openPage, signUpInBrowser, waitForText } from '../support/browser.js';
import { startKeywardProcess } from '../support/server-process.js';
import { eventually } from '../support/wait.js';

const SHOTS_DIR = join(ARTIFACTS_DIR, 'limits');

t.setTimeout(300_000);

const browser = await launchChromium(t);
// A quota of 5: the first reservation takes 3 (half of what is left), and the third call's refill 1 more, so
// three calls leave the count at exactly 4: 80 %.
const server = await startKeywardProcess(t, {
  KEYWARD_USAGE_FLUSH_MS: '300',
  KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS: '1000',
  KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS: '60',
  KEYWARD_ACCOUNT_MONTHLY_QUOTA: '5',
});

async function monthUsed(page: Page): Promise<number> {
  const limits = (await (await page.request.get('/v1/limits')).json()) as { month: { used: number } };
  return limits.month.used;
}

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const fullPage = (await page.locator('dialog[open]').count()) === 0;
  await page.screenshot({ path: join(SHOTS_DIR, name), fullPage });
}

async function verify(apiKey: string): Promise<number> {
  const response = await fetch(`${server.url}/v1/verify`, { headers: { 'x-api-key': apiKey } });
  return response.status;
}

t.test('the Limits card, a key limit set when generating it, and the quota warning at 80 %', async (t) => {
  const { page, problems } = await openPage(browser, server, { viewport: { width: 1280, height: 900 } });
  await signUpInBrowser(page, 'limits@example.com');
  const card = page.locator('[data-limits]');
  await waitForText(card.locator('[data-limits-window]'), /^Rate limit 0 of 1,000 requests this minute$/);
  await waitForText(card.locator('[data-limits-month]'), /^Monthly quota 0 of 5 requests this month$/);
  t.equal(await card.locator('[data-quota-alert] .alert').count(), 0, 'no warning with the quota unused');

  // A key's own limit above the account's: the server's refusal is shown on the field.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const generate = page.getByRole('dialog', { name: 'Generate API key' });
  await generate.getByLabel('Name').fill('limited');
  await waitForText(generate.locator('[data-rate-limit-field] .hint'), /account's limit of 1,000 \/ min/);
  await generate.getByLabel('Rate limit (requests)').fill('2000');
  t.equal(await generate.getByLabel('Window unit').inputValue(), '60', 'per minute unless chosen otherwise');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  const fieldError = generate.locator('[data-rate-limit-field] .error-text');
  await waitForText(fieldError, /2000 per 60 s is above this account's limit of 1000 per 60 s/);
  t.equal(await generate.getByLabel('Rate limit (requests)').getAttribute('aria-invalid'), 'true');
  t.equal(await page.evaluate<string>('document.activeElement.id'), 'generate-rate-requests', 'focus on the field');
  t.equal(await generate.locator('[data-dialog-alert] .alert').count(), 0, 'said on the field, not in an alert');
  await generate.locator('[data-rate-limit-field]').scrollIntoViewIfNeeded();
  await shoot(page, 'generate-rate-limit-refused.png');

  // A wrong window is said before asking the server.
  await generate.getByLabel('Rate limit (requests)').fill('100');
  t.equal(await fieldError.innerText(), '', 'the error goes once the field is changed');
  await generate.getByLabel('Window length').fill('2');
  await generate.getByLabel('Window unit').selectOption({ label: 'days' });
  await generate.getByRole('button', { name: 'Generate key' }).click();
  await waitForText(fieldError, /at most 1 day/);
  await generate.getByLabel('Window length').fill('1');
  await generate.getByLabel('Window unit').selectOption({ label: 'minutes' });
  await generate.getByRole('button', { name: 'Generate key' }).click();

  const reveal = page.getByRole('dialog', { name: 'Your new API key' });
  const apiKey = await reveal.getByLabel('API key “limited”').inputValue();
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();
  const row = page.locator('[data-active-keys] tr', { hasText: 'limited' });
  await waitForText(row.locator('[data-key-rate-limit]'), /^Rate limit 100 \/ min$/);

  // Three calls: the quota's count reaches 4 of 5 once the third call's refill lands.
  for (let i = 0; i < 3; i++) t.equal(await verify(apiKey), 204);
  t.ok(await eventually(async () => (await monthUsed(page)) === 4, 10_000), 'the quota count reads 4');
  await page.reload();
  await waitForText(card.locator('[data-limits-month]'), /^Monthly quota 4 of 5 requests this month$/);
  await waitForText(card.locator('[data-limits-window]'), /^Rate limit \d+ of 1,000 requests this minute$/);
  const warning = await waitForText(card.locator('[data-quota-alert]'), /Monthly quota almost used up/);
  t.match(
    warning,
    /80 % of this month's 5 requests are used\. Once all are, requests are refused with 429 until 1 \w{3}\./,
  );
  await waitForText(row.locator('[data-key-rate-limit]'), /^Rate limit 100 \/ min$/);

  await page.mouse.move(0, 0);
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForTimeout(400); // the buttons' colour transitions
      await shoot(page, `limits-${width}-${scheme}.png`);
      t.ok(await card.isVisible(), `the Limits card is visible at ${width} px, ${scheme}`);
      t.ok(await row.locator('[data-key-rate-limit]').isVisible(), `and the key's limit, ${width} px, ${scheme}`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: 'light' });

  // Edit access changes the key's limit (PATCH), and an emptied field removes it.
  await row.getByRole('button', { name: 'Edit access of limited' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit access of “limited”' });
  t.equal(await edit.getByLabel('Rate limit (requests)').inputValue(), '100', "it opens on the key's limit");
  await edit.getByLabel('Rate limit (requests)').fill('50');
  await edit.getByLabel('Window unit').selectOption({ label: 'hours' });
  await edit.getByRole('button', { name: 'Save' }).click();
  await waitForText(row.locator('[data-key-rate-limit]'), /^Rate limit 50 \/ h$/);
  await row.getByRole('button', { name: 'Edit access of limited' }).click();
  await edit.getByLabel('Rate limit (requests)').fill('');
  await edit.getByRole('button', { name: 'Save' }).click();
  t.ok(await eventually(async () => (await row.locator('[data-key-rate-limit]').count()) === 0, 10_000), 'removed');

  // Used up: two more calls take the count to 5; the warning says until when requests are refused.
  for (let i = 0; i < 2; i++) t.equal(await verify(apiKey), 204);
  t.ok(await eventually(async () => (await monthUsed(page)) === 5, 10_000), 'the quota count reads 5');
  t.equal(await verify(apiKey), 429, 'the next call is refused');
  await page.reload();
  const usedUp = await waitForText(card.locator('[data-quota-alert]'), /Monthly quota used up/);
  t.match(usedUp, /Requests are refused with 429 until 1 \w{3}, when the quota renews\./);
  await shoot(page, 'limits-used-up.png');

  t.same(problems, { errors: [], foreignRequests: [] }, 'no script errors, nothing fetched elsewhere');
});
