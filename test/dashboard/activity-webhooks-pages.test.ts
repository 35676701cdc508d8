/**
 * Activity and Webhooks as a new user meets them (issue 28), at 1280 and 390 px, light and dark: Activity's
 * filters applied by the server (Load older among the matches), kept in the address (reload, Back), with
 * Clear filters and columns that stay put; Webhooks saying how to allow a receiver on localhost, its
 * Endpoints heading clear of the card above; every tap target at least 44 px on a phone.
 */
import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { screenshot, startDashboard, waitForText } from '../support/browser.js';
import { eventually } from '../support/wait.js';

t.setTimeout(300_000);
const { server, signedInPage } = await startDashboard(t);

const SIZES = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
] as const;

/** The visible buttons, links, fields and summaries of <main> (and open dialogs) smaller than 44 px tall. */
function smallTapTargets(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const targets = document.querySelectorAll(
      'main button, main a[href], main select, main input, main summary, dialog[open] button',
    );
    return [...targets]
      .filter((element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden')
      .map((element) => [element, element.getBoundingClientRect()])
      .filter(([, box]) => box.height < 44 || box.width < 24)
      .map(([element, box]) =>
        element.tagName.toLowerCase() + ' "' + (element.getAttribute('aria-label') ?? element.textContent ?? '')
          .trim().slice(0, 40) + '" ' + Math.round(box.width) + 'x' + Math.round(box.height));
  })()`);
}

/** The page's background colour's lightness (0 black, 255 white). */
async function backgroundLightness(page: Page): Promise<number> {
  const colour = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
  const [r, g, b] = colour.match(/\d+/g)!.map(Number) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** At each size and colour scheme: no tap target under 44 px on the phone, the theme applied, a screenshot. */
async function checkLooks(t: Test, page: Page, name: string): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await eventually(async () => (await backgroundLightness(page)) < 60 === (scheme === 'dark'), 5000);
      t.equal((await backgroundLightness(page)) < 60, scheme === 'dark', `${name} ${size.width} px ${scheme}: theme`);
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - innerWidth');
      t.ok(overflow <= 0, `${name} ${size.width} px ${scheme}: no sideways scrolling`);
      if (size.width === 390) {
        t.same(await smallTapTargets(page), [], `${name} 390 px ${scheme}: every tap target is at least 44 px tall`);
      }
      await screenshot(page, `${name}-${size.width}-${scheme}.png`);
    }
  }
  await page.setViewportSize(SIZES[0]);
  await page.emulateMedia({ colorScheme: 'light' });
}

t.test('Activity: filters applied by the server, in the address, cleared in one click', async (t) => {
  const { page, problems } = await signedInPage('filters@example.com');
  const production = (await (await page.request.post('/v1/keys', { data: { name: 'production' } })).json()) as {
    key: { id: string; hint: string };
  };
  t.equal((await page.request.post('/v1/keys', { data: { name: 'staging' } })).status(), 201);
  // 30 failed sign-ins after the keys: production's events are older than a first page of 25.
  for (let i = 0; i < 30; i++) {
    const response = await fetch(`${server.url}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'filters@example.com', password: `wrong password ${i}` }),
    });
    t.equal(response.status, 401);
  }
  t.equal((await page.request.delete(`/v1/keys/${production.key.id}`)).status(), 200);

  await page.goto('/activity');
  const rows = page.locator('[data-events] tr');
  await waitForText(rows.first(), /Key revoked/);
  t.equal(await rows.count(), 25, 'a first page of every event');
  t.ok(await page.getByRole('button', { name: 'Clear filters' }).isHidden(), 'nothing to clear');
  const widths = () =>
    page.locator('[data-events-table] thead th').evaluateAll((ths) => ths.map((th) => th.offsetWidth));
  const unfiltered = await widths();

  // The key filter names the key as the keys page does; its events are found though none was loaded.
  const keySelect = page.getByLabel('Key', { exact: true });
  t.match(await keySelect.locator('option').allInnerTexts(), [
    'All keys',
    /^(production|staging) · kw_/,
    /^(production|staging) · kw_/,
  ]);
  await keySelect.selectOption({ label: `production · ${production.key.hint}` });
  await waitForText(page.locator('[data-filter-note]'), /^2 matching events\.$/);
  t.same(await rows.locator('.event-action').allInnerTexts(), ['Key revoked', 'Key generated']);
  t.match(await rows.first().locator('.key-hint').innerText(), production.key.hint, 'events name the key by hint');
  t.equal(new URL(page.url()).search, `?keyId=${production.key.id}`, 'the filter is in the address');
  t.same(await widths(), unfiltered, 'the columns keep their widths');
  t.same(
    await page.evaluate<number[]>(`[...document.querySelectorAll('[data-events] td')]
      .filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.cellIndex)`),
    [],
    'and every cell fits in its column',
  );
  t.ok(await page.getByRole('button', { name: 'Clear filters' }).isVisible());

  // An event filter: the failed sign-ins, a page at a time, Load older among them only.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await waitForText(page.locator('[data-load-more-row]'), /Load older/);
  t.equal(new URL(page.url()).search, '', 'cleared from the address too');
  await page.getByLabel('Event', { exact: true }).selectOption({ label: 'Failed sign-in attempt' });
  await waitForText(page.locator('[data-filter-note]'), /^25 matching events so far; Load older finds more\.$/);
  t.equal(new URL(page.url()).search, '?action=session.failed');
  await page.getByRole('button', { name: 'Load older' }).click();
  await waitForText(page.locator('[data-filter-note]'), /^30 matching events\.$/);
  t.same(
    [...new Set(await rows.locator('.event-action').allInnerTexts())],
    ['Failed sign-in attempt'],
    'only failed sign-ins, older ones included',
  );
  t.ok(await page.getByRole('button', { name: 'Load older' }).isHidden(), 'and then no more');
  t.same(await widths(), unfiltered, 'the columns still keep their widths');

  // Reload keeps the filters; Back returns to the previous ones.
  await page.reload();
  await waitForText(page.locator('[data-filter-note]'), /^25 matching events so far/);
  t.equal(await page.getByLabel('Event', { exact: true }).inputValue(), 'session.failed', 'reload keeps the filter');
  await page.goBack();
  await page.waitForURL((url) => url.search === '');
  await waitForText(rows.first(), /Key revoked/);
  t.equal(await page.getByLabel('Event', { exact: true }).inputValue(), '', 'Back: all events again');
  await page.goBack();
  await page.waitForURL((url) => url.search === `?keyId=${production.key.id}`);
  await waitForText(page.locator('[data-filter-note]'), /^2 matching events\.$/);
  t.equal(await keySelect.inputValue(), production.key.id, 'Back: the key filter again');

  // A bad value in the address: the server's 400, said on the page.
  await page.goto('/activity?action=key.exploded');
  await waitForText(page.locator('[data-page-alert]'), /Could not load the activity.*querystring\/action/s);

  await page.goto(`/activity?keyId=${production.key.id}`);
  await waitForText(page.locator('[data-filter-note]'), /^2 matching events\.$/);
  await checkLooks(t, page, 'activity-filtered');
  t.same(problems, { errors: [], foreignRequests: [] });
});

t.test('Webhooks: how to allow a local receiver, said always and when refused', async (t) => {
  const { page, problems } = await signedInPage('local-hooks@example.com');
  await page.goto('/settings/webhooks');
  await waitForText(page.locator('[data-endpoints]'), /No endpoints yet/);
  await waitForText(page.locator('[data-local-receivers]'), /KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true/);

  await page.getByLabel('Endpoint URL').fill('http://localhost:4000/keyward');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const alert = await waitForText(page.locator('[data-add-alert]'), /must use https.*ALLOW_PRIVATE_NETWORKS=true/s);
  t.match(alert, /KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true npm start/, 'the refusal says how to allow it');
  await page.getByLabel('Endpoint URL').fill('https://127.0.0.1/keyward');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await waitForText(page.locator('[data-add-alert]'), /loopback.*ALLOW_PRIVATE_NETWORKS=true/s);

  for (const size of SIZES) {
    await page.setViewportSize(size);
    const card = (await page.locator('section.card').first().boundingBox())!;
    const heading = (await page.getByRole('heading', { name: 'Endpoints', exact: true }).boundingBox())!;
    t.ok(
      heading.y - (card.y + card.height) >= 16,
      `${size.width} px: the Endpoints heading is clear of the card (${Math.round(heading.y - card.y - card.height)} px)`,
    );
  }
  await checkLooks(t, page, 'webhooks-refused');
  t.same(problems, { errors: [], foreignRequests: [] });
});
