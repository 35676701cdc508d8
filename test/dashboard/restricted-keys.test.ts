/**
 * Restricted keys in the dashboard: generating a key with scopes (the deployment's catalogue, or free-form), an
 * allowed network and metadata; the list showing a key's access; "Edit access"; and a rotation saying the new key
 * keeps the old key's access.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import t from 'tap';
import { callMe } from '../support/app.js';
import { ARTIFACTS_DIR, launchChromium, openPage, signUpInBrowser, waitForText } from '../support/browser.js';
import { startKeywardProcess } from '../support/server-process.js';

/** Where the screenshots to look at go: the generate dialog in Restricted mode and the list, light and dark. */
const SHOTS_DIR = join(ARTIFACTS_DIR, 'restricted-keys');

const CATALOGUE = {
  'orders:read': 'Read orders and their line items',
  'orders:write': 'Create, change and cancel orders',
  'customers:read': 'Read customer profiles',
  'reports:read': 'Download monthly reports',
};

interface ApiKey {
  name: string;
  scopes: string[] | null;
  allowedNetworks: string[] | null;
  metadata: Record<string, unknown> | null;
}

t.setTimeout(300_000);

const scopesDir = mkdtempSync(join(tmpdir(), 'keyward-scopes-'));
t.teardown(() => rmSync(scopesDir, { recursive: true, force: true }));
const scopesFile = join(scopesDir, 'scopes.json');
writeFileSync(scopesFile, JSON.stringify(CATALOGUE));

const browser = await launchChromium(t);
const server = await startKeywardProcess(t, { KEYWARD_USAGE_FLUSH_MS: '300', KEYWARD_SCOPES_FILE: scopesFile });

/** The account's keys as the API shows them, with the page's session cookie. */
async function apiKeys(page: Page): Promise<Map<string, ApiKey>> {
  const { keys } = (await (await page.request.get('/v1/keys')).json()) as { keys: (ApiKey & { status: string })[] };
  return new Map(keys.filter((key) => key.status === 'active').map((key) => [key.name, key]));
}

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const fullPage = (await page.locator('dialog[open]').count()) === 0;
  await page.screenshot({ path: join(SHOTS_DIR, name), fullPage });
}

t.test('a restricted key: generated with scopes and a network, shown in the list, its access edited', async (t) => {
  const { page, problems } = await openPage(browser, server, { viewport: { width: 1280, height: 1000 } });
  await signUpInBrowser(page, 'restricted@example.com');
  await waitForText(page.locator('[data-active-keys]'), /No active keys/);

  // Generate: full access is the default, the restriction's fields hidden until Restricted is chosen.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const generate = page.getByRole('dialog', { name: 'Generate API key' });
  t.ok(await generate.getByLabel('Full access').isChecked(), 'full access is the default');
  t.notOk(await generate.getByLabel('Allowed networks').isVisible(), 'no restriction fields for full access');
  await generate.getByLabel('Name').fill('reporting');
  await generate.getByLabel('Restricted').check();
  // The catalogue's scopes, each with its description.
  t.same(
    await Promise.all((await generate.locator('input[name="scope"]').all()).map((box) => box.inputValue())),
    Object.keys(CATALOGUE),
    'a checkbox per scope of the catalogue',
  );
  await waitForText(generate.locator('.scope-option', { hasText: 'orders:read' }), /Read orders and their line items/);
  await generate.getByLabel('orders:read').check();
  await generate.getByLabel('Allowed networks').fill('127.0.0.0/8');
  await generate.getByLabel('Metadata (JSON)').fill('{ "team": "data" }');

  await generate.evaluate((dialog) => dialog.scrollTo(0, 0));
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(400); // the buttons' colour transitions
    await shoot(page, `generate-restricted-${scheme}.png`);
  }
  await page.emulateMedia({ colorScheme: 'light' });

  // Metadata must be a JSON object: said in the dialog before asking the server.
  await generate.getByLabel('Metadata (JSON)').fill('["data"]');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  await waitForText(generate.getByRole('alert'), /Metadata must be a JSON object/);
  t.equal(await generate.getByLabel('Metadata (JSON)').getAttribute('aria-invalid'), 'true');
  t.equal(await page.evaluate<string>('document.activeElement.id'), 'generate-metadata', 'focus goes to the field');
  await generate.getByLabel('Metadata (JSON)').fill('{ "team": "data" }');
  t.equal(await generate.getByLabel('Metadata (JSON)').getAttribute('aria-invalid'), null, 'unmarked once changed');

  await generate.getByRole('button', { name: 'Generate key' }).click();
  const reveal = page.getByRole('dialog', { name: 'Your new API key' });
  const apiKey = await reveal.getByLabel('API key “reporting”').inputValue();
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();

  let keys = await apiKeys(page);
  t.match(
    keys.get('reporting'),
    { scopes: ['orders:read'], allowedNetworks: ['127.0.0.0/8'], metadata: { team: 'data' } },
    'the key is generated with its scopes, network and metadata',
  );
  t.equal((await callMe(server, apiKey)).status, 200, 'and works from an allowed network');

  // The list shows the restriction at a glance.
  const row = page.locator('[data-active-keys] tr', { hasText: 'reporting' });
  await waitForText(row.locator('[data-key-access]'), /^Restricted: orders:read · 1 network Edit access$/);
  t.match(
    await row.locator('.access-summary').getAttribute('title'),
    /Scopes: orders:read\nAllowed networks: 127\.0\.0\.0\/8/,
  );

  // Full access stays the default: a key generated without touching the access has none of it.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  t.ok(await generate.getByLabel('Full access').isChecked(), 'the dialog opens on full access again');
  t.equal(await generate.getByLabel('Metadata (JSON)').inputValue(), '', 'with the fields empty');
  await generate.getByLabel('Name').fill('backend');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();
  keys = await apiKeys(page);
  t.match(keys.get('backend'), { scopes: null, allowedNetworks: null, metadata: null }, 'full access, no metadata');
  const backendRow = page.locator('[data-active-keys] tr', { hasText: 'backend' });
  await waitForText(backendRow.locator('[data-key-access]'), /^Full access Edit access$/);
  await page.mouse.move(0, 0);
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(400); // the buttons' colour transitions
    await shoot(page, `key-list-${scheme}.png`);
  }
  await page.emulateMedia({ colorScheme: 'light' });

  // Edit access: the dialog says it takes effect at once, starts from the key's access, shows the server's refusal.
  await row.getByRole('button', { name: 'Edit access of reporting' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit access of “reporting”' });
  await waitForText(edit, /Takes effect immediately on every instance/);
  t.ok(await edit.getByLabel('Restricted').isChecked(), 'it opens on the key’s access');
  t.ok(await edit.getByLabel('orders:read').isChecked());
  t.equal(await edit.getByLabel('Allowed networks').inputValue(), '127.0.0.0/8');
  t.equal(await page.evaluate<string>('document.activeElement.value'), 'restricted', 'focus on the chosen access');
  await page.mouse.move(0, 0);
  await shoot(page, 'edit-access-light.png');
  await edit.getByLabel('Allowed networks').fill('not-a-network');
  await edit.getByRole('button', { name: 'Save access' }).click();
  await waitForText(edit.getByRole('alert'), /The access was not changed.*"not-a-network" is not an IPv4 or IPv6/);
  t.match((await apiKeys(page)).get('reporting'), { allowedNetworks: ['127.0.0.0/8'] }, 'nothing changed');

  await edit.getByLabel('Allowed networks').fill('127.0.0.0/8');
  await edit.getByLabel('orders:read').uncheck();
  await edit.getByLabel('orders:write').check();
  await edit.getByLabel('customers:read').check();
  await edit.getByRole('button', { name: 'Save access' }).click();
  await waitForText(page.locator('[data-toast]'), /The access of “reporting” is changed, on every instance\./);
  t.notOk(await edit.isVisible(), 'the dialog closes');
  t.equal(
    await page.evaluate<string>('document.activeElement.getAttribute("aria-label")'),
    'Edit access of reporting',
    'focus is back on the button that opened it',
  );
  keys = await apiKeys(page);
  t.same(
    keys.get('reporting')!.scopes!.slice().sort(),
    ['customers:read', 'orders:write'],
    'the API has the new scopes',
  );
  t.match(keys.get('reporting'), { allowedNetworks: ['127.0.0.0/8'], metadata: { team: 'data' } }, 'the rest kept');
  await waitForText(
    row.locator('[data-key-access]'),
    /^Restricted: orders:write, customers:read · 1 network Edit access$/,
  );

  // Back to full access from the same dialog.
  await backendRow.getByRole('button', { name: 'Edit access of backend' }).click();
  const editBackend = page.getByRole('dialog', { name: 'Edit access of “backend”' });
  await editBackend.getByLabel('Restricted').check();
  await editBackend.getByRole('button', { name: 'Save access' }).click();
  await waitForText(editBackend.getByRole('alert'), /Choose at least one scope or allowed network/);
  await editBackend.getByLabel('reports:read').check();
  await editBackend.getByRole('button', { name: 'Save access' }).click();
  await waitForText(backendRow.locator('[data-key-access]'), /^Restricted: reports:read Edit access$/);
  await backendRow.getByRole('button', { name: 'Edit access of backend' }).click();
  await editBackend.getByLabel('Full access').check();
  await editBackend.getByRole('button', { name: 'Save access' }).click();
  await waitForText(backendRow.locator('[data-key-access]'), /^Full access Edit access$/);
  t.match((await apiKeys(page)).get('backend'), { scopes: null, allowedNetworks: null });

  // The details list the whole access, metadata included.
  await row.getByRole('button', { name: 'Details of reporting' }).click();
  const details = page.getByRole('dialog', { name: '“reporting”' });
  await waitForText(details.locator('.facts'), /Access Restricted Scopes orders:write customers:read/);
  await waitForText(details.locator('.facts'), /Allowed networks 127\.0\.0\.0\/8 Metadata \{ "team": "data" \}/);
  await waitForText(details.locator('[data-detail-events]'), /Access changed/);
  await details.getByRole('button', { name: 'Close' }).click();

  // A rotation says the new key keeps the old key's access.
  t.ok((await page.request.delete(`/v1/keys/${(await backendId(page))!}`)).ok(), 'backend revoked: a free slot');
  await page.reload();
  await page.getByRole('button', { name: 'Rotate reporting' }).click();
  const rotate = page.getByRole('dialog', { name: 'Rotate “reporting”' });
  await waitForText(
    rotate.locator('[data-rotation-access]'),
    /Access of the new key Restricted: orders:write, customers:read · 1 network The new key keeps the access of “reporting”/,
  );
  await rotate.getByRole('button', { name: 'Generate new key' }).click();
  await waitForText(rotate.locator('[aria-current="step"]'), /Roll it out/);
  await rotate.getByRole('button', { name: 'Copy', exact: true }).click();
  await rotate.getByRole('button', { name: 'Close' }).click();
  const rotated = [...(await apiKeys(page)).values()].find((key) => key.name.startsWith('reporting (rotated'));
  t.same(rotated?.scopes?.slice().sort(), ['customers:read', 'orders:write'], 'the new key has the same scopes');
  t.match(rotated, { allowedNetworks: ['127.0.0.0/8'], metadata: { team: 'data' } });

  t.same(problems.errors, [], 'no script errors or CSP violations');
  t.same(problems.foreignRequests, []);
});

t.test('without a catalogue, scopes are typed in, and the server’s refusal is shown in the dialog', async (t) => {
  const { page, problems } = await openPage(browser, server);
  // This server has a catalogue; the page is told there is none, as a deployment without one answers.
  await page.route('**/v1/scopes', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ scopes: null }) }),
  );
  await signUpInBrowser(page, 'free-form@example.com');
  await waitForText(page.locator('[data-active-keys]'), /No active keys/);
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const generate = page.getByRole('dialog', { name: 'Generate API key' });
  await generate.getByLabel('Restricted').check();
  t.equal(await generate.locator('input[name="scope"]').count(), 0, 'no checkboxes');
  await generate.getByLabel('Scopes', { exact: true }).fill('orders:read, invoices:read');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  // The server's catalogue does not know invoices:read: its 400, in the dialog.
  await waitForText(generate.getByRole('alert'), /invoices:read/);
  t.equal((await apiKeys(page)).size, 0, 'no key was generated');
  await generate.getByLabel('Scopes', { exact: true }).fill('bad scope!');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  await waitForText(generate.getByRole('alert'), /“scope!” is not a scope/);
  await generate.getByLabel('Scopes', { exact: true }).fill('orders:read,  reports:read orders:read');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  const reveal = page.getByRole('dialog', { name: 'Your new API key' });
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();
  const [key] = [...(await apiKeys(page)).values()];
  t.same(key?.scopes, ['orders:read', 'reports:read'], 'split on commas and spaces, without repeats');
  t.equal(key?.allowedNetworks, null);
  await waitForText(page.locator('[data-key-access]'), /^Restricted: orders:read, reports:read Edit access$/);

  // A phone: the line wraps inside the card, and Edit access is a full-size tap target.
  await page.setViewportSize({ width: 390, height: 844 });
  t.ok(await page.evaluate<boolean>('document.documentElement.scrollWidth <= innerWidth'), 'no sideways scrolling');
  const editBox = (await page.getByRole('button', { name: /^Edit access of/ }).boundingBox())!;
  t.ok(editBox.height >= 44, `Edit access is ${editBox.height} px tall`);
  await shoot(page, 'key-list-narrow-light.png');
  t.same(problems.errors, []);
});

async function backendId(page: Page): Promise<string | undefined> {
  const { keys } = (await (await page.request.get('/v1/keys')).json()) as { keys: { id: string; name: string }[] };
  return keys.find((key) => key.name === 'backend')?.id;
}
