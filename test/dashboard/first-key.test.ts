/**
 * The first hour on the keys page (issue 28): a "try it" snippet that works when pasted, the lag of usage
 * counts said where the count is, the reasons beside a disabled or absent Rotate and under a disabled
 * Generate, a counter in the default name of a key rotated twice in a day, one word ("requests") per
 * count, and tap targets of at least 44 px on a phone; at 1280 and 390 px, light and dark. Also refreshes
 * docs/settings*.png with UPDATE_SCREENSHOTS=1.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import t from 'tap';
import { callMe } from '../support/app.js';
import { ARTIFACTS_DIR, DOCS_DIR, screenshot, startDashboard, waitForText } from '../support/browser.js';
import { eventually } from '../support/wait.js';

const SHOTS_DIR = join(ARTIFACTS_DIR, 'first-key');
const SIZES = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
] as const;
const SCHEMES = ['light', 'dark'] as const;

t.setTimeout(300_000);

/** Runs a snippet as a person pasting it would: in a shell, as is. */
async function runPasted(snippet: string): Promise<string> {
  const { stdout } = await promisify(execFile)('sh', ['-c', snippet], { timeout: 10_000 });
  return stdout;
}

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const fullPage = (await page.locator('dialog[open]').count()) === 0;
  await page.screenshot({ path: join(SHOTS_DIR, name), fullPage });
}

/** Every size and scheme, in turn: `check` runs in each; the page ends at 1280 px, light. */
async function inEverySizeAndScheme(page: Page, check: (label: string, width: number) => Promise<void>) {
  await page.mouse.move(0, 0);
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      await check(`${size.width} px, ${scheme}`, size.width);
    }
  }
  await page.setViewportSize(SIZES[0]);
  await page.emulateMedia({ colorScheme: 'light' });
}

/** The elements matching `selector` taller than one line of their text. */
function wrapped(page: Page, selector: string) {
  return page.evaluate<string[]>(`
    [...document.querySelectorAll(${JSON.stringify(selector)})]
      .filter((element) => {
        const style = getComputedStyle(element);
        const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
        const inner = element.getBoundingClientRect().height - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
        return inner > line * 1.5;
      })
      .map((element) => element.textContent.trim())
  `);
}

/** The elements matching `selector` whose text is cut (wider or taller than shown). */
function cut(page: Page, selector: string) {
  return page.evaluate<string[]>(`
    [...document.querySelectorAll(${JSON.stringify(selector)})]
      .filter((element) => element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 1)
      .map((element) => element.textContent.trim())
  `);
}

/** The smallest side of each visible button in `root`, with its name, for the tap-target check. */
function tapTargets(page: Page, selector: string) {
  return page.evaluate<{ name: string; width: number; height: number }[]>(`
    [...document.querySelectorAll(${JSON.stringify(selector)})]
      .filter((element) => element.getClientRects().length > 0)
      .map((element) => {
        const box = element.getBoundingClientRect();
        const name = element.getAttribute('aria-label') ?? element.textContent.trim();
        return { name, width: Math.round(box.width), height: Math.round(box.height) };
      })
  `);
}

t.test('a first key: pasted snippet, usage lag, reasons beside disabled buttons, rotated names', async (t) => {
  const { server, signedInPage } = await startDashboard(t);
  const { page, problems } = await signedInPage('ada@example.com');
  const keys = page.locator('[data-active-keys]');

  // The empty state: the snippet sets the variable, with a placeholder the text says to replace.
  const empty = await waitForText(page.locator('[data-empty-state]'), /No active keys/);
  t.match(empty, /replace paste-your-key-here with the key and paste both lines in a terminal/);
  const emptySnippet = await page.locator('#empty-curl').innerText();
  t.match(emptySnippet, /^export KEYWARD_API_KEY='paste-your-key-here'\ncurl http:\/\/127\.0\.0\.1:\d+\/v1\/me \\\n/);
  await page.getByRole('button', { name: 'Copy the curl command' }).click();
  t.equal(await page.evaluate<string>('navigator.clipboard.readText()'), emptySnippet, 'Copy copies what is shown');
  await inEverySizeAndScheme(page, async (label, width) => {
    await shoot(page, `empty-${label.replace(/\W+/g, '-')}.png`);
    t.ok(await page.locator('#empty-curl').isVisible(), `the empty state's snippet shows at ${label}`);
    if (width === 390) {
      const copy = await tapTargets(page, '.snippet .button');
      t.ok(
        copy.every((target) => target.width >= 44 && target.height >= 44),
        `Copy is at least 44 px at ${label}`,
      );
    }
  });

  // The one-time key: its snippet sets the variable to the key itself, and works when pasted.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const generate = page.getByRole('dialog', { name: 'Generate API key' });
  await generate.getByLabel('Name').fill('production');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  const reveal = page.getByRole('dialog', { name: 'Your new API key' });
  const apiKey = await reveal.getByLabel('API key “production”').inputValue();
  const snippet = await reveal.locator('[data-curl]').innerText();
  t.equal(snippet.split('\n')[0], `export KEYWARD_API_KEY='${apiKey}'`, 'the first line sets the variable');
  t.match(
    await reveal.locator('.key-reveal-block .hint').innerText(),
    /the first line puts this key in KEYWARD_API_KEY/,
  );
  const answer = JSON.parse(await runPasted(snippet)) as { keyId: string };
  t.equal(answer.keyId, apiKey.slice(3, 19), 'the snippet, pasted in a shell, authenticates with the key');
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();

  // Used (by the paste above) but not counted yet, or never used: the lag is said where the count is.
  const production = keys.locator('tr', { hasText: 'production' });
  const row = await waitForText(production, /Never Counts update every second|just now/);
  if (/Never/.test(row)) {
    t.equal(await production.locator('td.numeric').getAttribute('title'), 'Counts update every second');
  }
  for (let i = 0; i < 2; i++) t.equal((await callMe(server, apiKey)).status, 200);
  await waitForText(production.locator('td.numeric'), /^3$/);
  t.equal(await production.locator('[data-usage-lag]').count(), 0, 'no lag note once the key has been used');

  // Rotate with a grace period: the old key has an expiry (no Rotate), the new one a disabled Rotate.
  const generateButton = page.getByRole('button', { name: 'Generate API key' });
  const before = await generateButton.boundingBox();
  await production.getByRole('button', { name: 'Rotate production' }).click();
  const rotate = page.getByRole('dialog', { name: 'Rotate “production”' });
  const today = new Date().toISOString().slice(0, 10);
  t.equal(await rotate.getByLabel('Name of the new key').getAttribute('placeholder'), `production (rotated ${today})`);
  await rotate.getByLabel('Automatically, after a grace period').check();
  await rotate.getByRole('button', { name: 'Generate new key' }).click();
  const rotatedKey = await rotate.getByLabel(`API key “production (rotated ${today})”`).inputValue();
  await rotate.getByRole('button', { name: 'Copy', exact: true }).click();
  t.equal((await rotate.locator('[data-curl]').innerText()).split('\n')[0], `export KEYWARD_API_KEY='${rotatedKey}'`);
  await rotate.getByRole('button', { name: 'Close' }).click();
  for (let i = 0; i < 4; i++) t.equal((await callMe(server, rotatedKey)).status, 200);

  const oldRow = keys.locator(`tr[data-key-id="${apiKey.slice(3, 19)}"]`);
  const newRow = keys.locator(`tr[data-key-id="${rotatedKey.slice(3, 19)}"]`);
  await waitForText(newRow.locator('td.numeric'), /^4$/);
  const oldReason = await waitForText(oldRow.locator('[data-rotate-reason]'), /Rotation is already under way/);
  t.match(oldReason, /^Rotation is already under way: this key expires on .+\.$/);
  t.equal(await oldRow.getByRole('button', { name: /^Rotate/ }).count(), 0, 'no Rotate on a key that expires');
  const newRotate = newRow.getByRole('button', { name: `Rotate production (rotated ${today})` });
  t.ok(await newRotate.isDisabled(), 'Rotate is disabled with two keys active');
  t.equal(await newRow.locator('[data-rotate-reason]').innerText(), '2 keys are active: revoke one to rotate.');
  t.equal(
    await newRotate.getAttribute('aria-describedby'),
    await newRow.locator('[data-rotate-reason]').getAttribute('id'),
    'the reason describes the button',
  );
  const note = page.locator('[data-limit-note]');
  t.equal(await note.innerText(), '2 of 2 keys active: revoke one to generate another.');
  t.ok(await generateButton.isDisabled());
  t.same(await generateButton.boundingBox(), before, 'the disabled button has not moved');

  // One word per count on the keys page: "requests", never "calls".
  t.notMatch(await page.locator('main').innerText(), /\bcalls?\b/i, 'no "calls" on the keys page');

  await inEverySizeAndScheme(page, async (label, width) => {
    await page.waitForTimeout(200); // the buttons' colour transitions, for the pictures only
    const docs = width === 1280 ? (label.endsWith('dark') ? 'settings-dark.png' : 'settings.png') : undefined;
    const phoneDocs = label.endsWith('dark') ? 'settings-phone-dark.png' : 'settings-phone.png';
    await screenshot(page, `first-key-${label.replace(/\W+/g, '-')}.png`, join(DOCS_DIR, docs ?? phoneDocs));
    t.ok(await oldRow.locator('[data-rotate-reason]').isVisible(), `the expiry's reason shows at ${label}`);
    t.ok(await newRow.locator('[data-rotate-reason]').isVisible(), `the full account's reason shows at ${label}`);
    t.ok(await note.isVisible(), `the limit note shows at ${label}`);
    const noteBox = await note.boundingBox();
    const lineHeight = await page.evaluate<number>(
      `parseFloat(getComputedStyle(document.querySelector('[data-limit-note]')).lineHeight) || 20`,
    );
    if (width === 1280) {
      t.ok(noteBox && noteBox.height < lineHeight * 1.5, `the limit note is one line at ${label}`);
      t.same(
        await wrapped(page, '[data-keys-table] th:not(.col-actions), [data-active-keys] .badge'),
        [],
        `no header or pill wraps at ${label}`,
      );
      t.same(
        await cut(
          page,
          '[data-active-keys] [data-callers], [data-active-keys] .key-name, [data-active-keys] .key-hint, [data-active-keys] .cell-sub',
        ),
        [],
        `nothing cut at ${label}`,
      );
    }
    if (width === 390) {
      const small = (await tapTargets(page, '[data-active-keys] button')).filter(
        (target) => target.width < 44 || target.height < 44,
      );
      t.same(small, [], `every button of the keys is at least 44 × 44 px at ${label}`);
    }
  });

  // The old key revoked, the rotated key rotated again the same day: its own name is taken (by itself, active
  // until the new key's grace period ends), so a counter keeps the default name unique.
  await oldRow.getByRole('button', { name: 'Revoke production' }).click();
  const revoke = page.getByRole('dialog', { name: 'Revoke “production”?' });
  await revoke.getByRole('button', { name: 'Revoke key' }).click();
  await eventually(async () => (await keys.locator('tr').count()) === 1, 10_000);
  // The ended keys' table lines up with the active keys' one, column by column.
  await page.locator('[data-ended-summary]').click();
  for (const size of SIZES.slice(0, 1)) {
    await page.setViewportSize(size);
    const lefts = (selector: string) =>
      page.evaluate<number[]>(
        `[...document.querySelectorAll(${JSON.stringify(selector)})].map((cell) => Math.round(cell.getBoundingClientRect().left))`,
      );
    const active = await lefts('[data-keys-table] thead th');
    const ended = await lefts('.ended-table thead th');
    t.same(ended, active.slice(0, 5), `the columns of both tables line up at ${size.width} px`);
    await shoot(page, `ended-${size.width}.png`);
  }
  await newRow.getByRole('button', { name: `Rotate production (rotated ${today})` }).click();
  const again = page.getByRole('dialog', { name: `Rotate “production (rotated ${today})”` });
  t.equal(
    await again.getByLabel('Name of the new key').getAttribute('placeholder'),
    `production (rotated ${today}, 2)`,
    'not the name of the key being rotated',
  );
  t.match(await again.locator('#rotate-name-hint').innerText(), `Left empty: “production (rotated ${today}, 2)”.`);
  await again.getByRole('button', { name: 'Cancel' }).click();

  t.same(problems, { errors: [], foreignRequests: [] }, 'no script errors, nothing fetched elsewhere');
});

t.test('a calmer step 3: one list of clients, the question beside the button clicked; Close asks again', async (t) => {
  const { server, signedInPage } = await startDashboard(t);
  const { page, problems } = await signedInPage('grace@example.com');
  const created = await page.request.post('/v1/keys', { data: { name: 'staging' } });
  const staging = ((await created.json()) as { apiKey: string }).apiKey;
  t.equal((await callMe(server, staging)).status, 200);
  await waitForText(page.locator('[data-active-keys] tr', { hasText: 'staging' }), /seconds? ago|just now/);

  await page.getByRole('button', { name: 'Rotate staging' }).click();
  const rotate = page.getByRole('dialog', { name: 'Rotate “staging”' });
  await rotate.getByRole('button', { name: 'Generate new key' }).click();
  await waitForText(rotate.locator('[aria-current="step"]'), /Roll it out/);

  // Close before copying asks; Close again while asked keeps asking (it used to hide the question).
  await rotate.getByRole('button', { name: 'Close', exact: true }).click();
  const ask = rotate.getByRole('alert');
  await waitForText(ask, /Close without copying the key\?/);
  await rotate.getByRole('button', { name: 'Close', exact: true }).click();
  await waitForText(ask, /Close without copying the key\?/);
  t.ok(await rotate.isVisible(), 'still open, still asking');
  await rotate.getByRole('button', { name: 'Back to the key' }).click();
  t.equal(await rotate.getByRole('alert').count(), 0, 'back to the key');
  await rotate.getByRole('button', { name: 'Copy', exact: true }).click();

  // Step 3: Revoke old key with the key in use asks in the footer, beside the button clicked.
  await rotate.getByRole('button', { name: 'Continue to step 3' }).click();
  await waitForText(rotate, /This key was used .* by 1 client\./);
  const footer = rotate.locator('[data-rotate-footer]');
  const revokeBox = await footer.getByRole('button', { name: 'Revoke old key' }).boundingBox();
  await footer.getByRole('button', { name: 'Revoke old key' }).click();
  const question = footer.locator('[data-revoke-question]');
  await waitForText(question, /^Revoke a key that is still in use\? The 1 client listed above will get 401\.$/);
  await inEverySizeAndScheme(page, async (label) => {
    await shoot(page, `step-3-confirm-${label.replace(/\W+/g, '-')}.png`);
    t.equal(await rotate.locator('ul.callers').count(), 1, `one list of clients at ${label}`);
    t.same(
      await footer.getByRole('button').allInnerTexts(),
      ["Don't revoke", 'Revoke anyway'],
      `the footer holds the question's two answers only at ${label}`,
    );
    t.equal(await rotate.locator('.button.danger').count(), 1, `one destructive button at ${label}`);
    t.ok(await question.isVisible(), `the question shows at ${label}`);
  });
  const anyway = await footer.getByRole('button', { name: 'Revoke anyway' }).boundingBox();
  t.ok(
    revokeBox && anyway && Math.abs(anyway.y - revokeBox.y) < 60,
    'the confirmation is where the button clicked was',
  );
  await footer.getByRole('button', { name: "Don't revoke" }).click();
  t.same(await footer.getByRole('button').allInnerTexts(), ['Back', 'Keep both keys for now', 'Revoke old key']);
  t.equal((await callMe(server, staging)).status, 200, 'nothing was revoked');
  await footer.getByRole('button', { name: 'Revoke old key' }).click();
  await footer.getByRole('button', { name: 'Revoke anyway' }).click();
  await waitForText(rotate, /Rotation complete/);
  t.equal((await callMe(server, staging)).status, 401, 'revoked');
  await rotate.getByRole('button', { name: 'Done' }).click();

  // The key panel: axes on its chart, and its own address (#key=<id>) that back, forward and a reload follow.
  const keyId = staging.slice(3, 19);
  const panel = page.getByRole('dialog', { name: '“staging”' });
  await page.locator('[data-ended-summary]').click();
  const hours = (await (await page.request.get(`/v1/keys/${keyId}/usage?minutes=60&hours=720`)).json()) as {
    hours: { requests: number }[];
  };
  const peak = Math.max(...hours.hours.map((hour) => hour.requests));
  t.ok(peak > 0, 'the key was used');
  const max = new RegExp(`^${peak} / h$`);
  await page.getByRole('button', { name: 'Details of staging', exact: true }).click();
  await waitForText(panel.locator('[data-chart-max]'), max);
  t.equal(new URL(page.url()).hash, `#key=${keyId}`, 'the panel has its own address');
  t.match(await panel.locator('[data-chart-times]').innerText(), /^\w{3} \d{1,2}\s+\w{3} \d{1,2}\s+now$/);
  await inEverySizeAndScheme(page, async (label) => {
    await shoot(page, `key-panel-${label.replace(/\W+/g, '-')}.png`);
    t.ok(await panel.locator('[data-chart-max]').isVisible(), `the chart's maximum shows at ${label}`);
    t.ok(await panel.locator('[data-chart-times]').isVisible(), `and its times at ${label}`);
  });
  await page.goBack();
  await eventually(async () => !(await panel.isVisible()), 5_000);
  t.notOk(await panel.isVisible(), 'back closes the panel');
  t.equal(new URL(page.url()).hash, '');
  await page.goForward();
  await waitForText(panel.locator('[data-chart-max]'), max);
  t.ok(await panel.isVisible(), 'forward opens it again');
  await page.reload();
  await waitForText(panel.locator('[data-chart-max]'), max);
  t.ok(await panel.isVisible(), 'the address opens the panel on load');
  await panel.getByRole('button', { name: 'Close' }).click();
  t.equal(new URL(page.url()).hash, '', 'closing it leaves the address of the page');
  t.same(problems, { errors: [], foreignRequests: [] }, 'no script errors, nothing fetched elsewhere');
});
