import t from 'tap';
import { callMe } from '../support/app.js';
import {
  openRotation,
  screenshot,
  signUpInBrowser,
  startDashboard,
  waitForText,
  waitForUsage,
} from '../support/browser.js';
import { PASSWORD } from '../support/http.js';

const FULL_KEY = /^kw_[0-9A-Za-z]{16}_[0-9A-Za-z]{39}$/;

// A browser and a server process: more than the default budget when the whole suite shares the CPUs.
t.setTimeout(300_000);

t.test('a user manages keys in the dashboard: generate, copy, limit, revoke, rotate, activity', async (t) => {
  const { server, openPage } = await startDashboard(t);
  const { page, problems } = await openPage();

  // Sign up, from the front door.
  await page.goto('/');
  t.match(page.url(), /\/sign-in$/, '/ sends a signed-out visitor to sign in');
  await page.getByRole('link', { name: 'Create one' }).click();
  await signUpInBrowser(page, 'ada@example.com');
  await waitForText(page.locator('.account-who'), /Acme ada@example\.com/);
  await waitForText(page.locator('[data-active-keys]'), /No active keys/);

  // Generate a key: shown once, with a warning and a copy button.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  const generate = page.getByRole('dialog', { name: 'Generate API key' });
  await generate.getByLabel('Name').fill('production');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  const reveal = page.getByRole('dialog', { name: 'Your new API key' });
  await waitForText(reveal, /This key will not be shown again/);
  const production = await reveal.getByLabel('API key “production”').inputValue();
  t.match(production, FULL_KEY, 'the full key is in the dialog');
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await waitForText(reveal.getByRole('button', { name: 'Copied' }), /Copied/);
  t.equal(
    await page.evaluate<string>('navigator.clipboard.readText()'),
    production,
    'Copy puts the key on the clipboard',
  );
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();
  t.notOk(await reveal.isVisible(), 'the dialog closes');
  t.notOk((await page.content()).includes(production.slice(20)), 'the secret is gone from the page');

  const productionRow = page.locator('[data-active-keys] tr', { hasText: 'production' });
  const hint = await productionRow.locator('.key-hint').innerText();
  t.match(hint, new RegExp(`^kw_${production.slice(3, 19)}_…${production.slice(-4)}$`), 'the row shows the hint only');
  await waitForText(productionRow, /Never/);
  await waitForText(productionRow, /by ada@example\.com/);

  // The key works.
  const me = await callMe(server, production);
  t.equal(me.status, 200, 'the copied key authenticates /v1/me');
  t.match(me.body, { keyId: production.slice(3, 19) });

  // Its use shows up: last used, requests, a sparkline.
  await waitForUsage(page, 'production');
  await page.reload();
  await waitForText(productionRow, /just now|seconds? ago/);
  t.equal(await productionRow.locator('td[data-label="Requests (24 h)"]').innerText(), '1');
  t.match(
    await productionRow.locator('svg.sparkline').getAttribute('aria-label'),
    /^1 request with “production” in the last 60 minutes$/,
  );
  t.match(
    await productionRow.locator('time').first().getAttribute('title'),
    /\d{4}.*\d:\d\d:\d\d/,
    'relative times carry the absolute time as a tooltip',
  );

  // A second key; then the limit.
  await page.getByRole('button', { name: 'Generate API key' }).click();
  await generate.getByLabel('Name').fill('staging');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  const staging = await reveal.getByLabel('API key “staging”').inputValue();
  t.match(staging, FULL_KEY);
  await reveal.getByRole('button', { name: 'Copy', exact: true }).click();
  await reveal.getByRole('button', { name: "Done, I've saved the key" }).click();
  await waitForText(page.locator('[data-active-keys]'), /staging/);
  const generateButton = page.getByRole('button', { name: 'Generate API key' });
  t.ok(await generateButton.isDisabled(), 'Generate is disabled with two active keys');
  t.match(
    await page.locator('#limit-note').innerText(),
    /^2 of 2 keys active: revoke one to generate another\.$/,
    'and says why',
  );
  t.equal(await generateButton.getAttribute('aria-describedby'), 'limit-note', 'the explanation describes the button');
  t.ok(await page.getByRole('button', { name: 'Rotate production' }).isDisabled(), 'rotating needs a free slot too');
  t.equal(await page.locator('[data-rotation-banner]').innerText(), '', 'two unrelated keys are no rotation');

  // Revoke "staging" with the trash button, after it was used: the dialog says so.
  t.equal((await callMe(server, staging)).status, 200);
  await waitForUsage(page, 'staging');
  await page.getByRole('button', { name: 'Revoke staging' }).click();
  const revoke = page.getByRole('dialog', { name: 'Revoke “staging”?' });
  await waitForText(revoke, /Revocation is immediate/);
  await waitForText(revoke, /This key was used (just now|\d+ seconds? ago) by 1 client\./);
  t.match(await revoke.locator('.callers').innerText(), /127\.0\.0\.1 · node · 1 request, last/);
  await revoke.getByRole('button', { name: 'Revoke key' }).click();
  await waitForText(page.locator('[data-toast]'), /“staging” is revoked\. Requests with it now fail with 401\./);
  t.notOk(await revoke.isVisible());
  await waitForText(page.locator('[data-ended-summary]'), /Revoked and expired keys \(1\)/);
  const revoked = await callMe(server, staging);
  t.equal(revoked.status, 401, 'the revoked key answers 401');
  t.match(revoked.body, { error: { code: 'api_key_revoked' } });
  t.ok(await generateButton.isEnabled(), 'Generate is enabled again');
  await page.locator('[data-ended-section] summary').click();
  const stagingRow = page.locator('[data-ended-keys] tr', { hasText: 'staging' });
  await waitForText(stagingRow, /Revoked/);
  // The request just refused is a rejected call of "staging": the row says who still calls with it.
  await waitForText(
    stagingRow.locator('[data-still-called]'),
    /^Still called: 1 request in the last hour by 127\.0\.0\.1 node, each refused\.$/,
  );

  // Rotate "production": step 1, generate the second key (old one kept until revoked).
  const rotate = await openRotation(page, 'production');
  await waitForText(rotate, /When should “production” stop working\?/);
  t.ok(await rotate.getByLabel('When I revoke it (recommended)').isChecked(), 'keeping the old key is the default');
  t.ok(
    await rotate.getByLabel('Grace period', { exact: true }).isDisabled(),
    'the grace period applies to the other choice only',
  );
  await rotate.getByLabel('Name of the new key').fill('production 2');
  await rotate.getByRole('button', { name: 'Generate new key' }).click();

  // Step 2: the new key, once; live traffic of both keys.
  await waitForText(rotate.locator('[aria-current="step"]'), /Roll it out/);
  const production2 = await rotate.getByLabel('API key “production 2”').inputValue();
  t.match(production2, FULL_KEY);
  const oldTraffic = rotate.locator('[data-traffic="old"]');
  const newTraffic = rotate.locator('[data-traffic="new"]');
  await waitForText(newTraffic, /No requests yet/);
  for (let i = 0; i < 3; i++) t.equal((await callMe(server, production)).status, 200);
  await waitForText(oldTraffic, /Still receiving traffic/);
  await waitForText(oldTraffic, /[4-9] requests in the last 15 minutes/);
  for (let i = 0; i < 5; i++) t.equal((await callMe(server, production2)).status, 200);
  await waitForText(newTraffic, /Receiving traffic 5 requests in the last 15 minutes · last used/);
  await screenshot(page, 'dashboard-rotation-step-2.png');

  // Close mid-rotation (the key copied): the page shows both keys with their traffic, and offers to resume.
  await rotate.getByRole('button', { name: 'Copy', exact: true }).click();
  await rotate.getByRole('button', { name: 'Close' }).click();
  await waitForText(
    page.locator('[data-rotation-banner]'),
    /“production 2” replaces “production”\. Move your services/,
  );
  await waitForText(page.locator('[data-active-keys] tr', { hasText: 'production 2' }), /5/);
  await page.mouse.move(0, 0);
  // docs/settings*.png come from second-round.test.ts (light and dark, desktop and phone).
  await screenshot(page, 'dashboard-settings.png');
  await page.getByRole('button', { name: 'Check traffic and finish' }).click();
  await waitForText(rotate.locator('[aria-current="step"]'), /Roll it out/);
  await waitForText(rotate, /The new key was shown once/);
  t.equal(await rotate.locator('[data-api-key]').count(), 0, 'a resumed rotation cannot show the key again');

  // Step 3: revoke the old key now; the dialog warns it is still in use.
  await rotate.getByRole('button', { name: 'Continue to step 3' }).click();
  await waitForText(rotate, /This key was used (just now|\d+ seconds? ago) by 1 client\./);
  await rotate.getByRole('button', { name: 'Revoke old key' }).click();
  // Still in use: asked again.
  await waitForText(rotate.getByRole('alert'), /Revoke a key that is still in use\?/);
  await rotate.getByRole('button', { name: 'Revoke anyway' }).click();
  await waitForText(rotate, /Rotation complete/);
  await waitForText(rotate.locator('[data-rejected-calls]'), /No requests with “production” since it was revoked/);
  // A forgotten service still sends the old key: the dialog shows its refused calls and who sent them.
  for (let i = 0; i < 3; i++) t.equal((await callMe(server, production)).status, 401, 'the old key is refused');
  await waitForText(
    rotate.locator('[data-rejected-calls]'),
    /Still called 3 requests with the revoked key in the last hour/,
  );
  t.match(
    await rotate.locator('[data-rejected-calls] .callers').innerText(),
    /127\.0\.0\.1 · node · 3 requests, last/,
    'with its caller',
  );
  await screenshot(page, 'dashboard-rotation-rejected-calls.png');
  await rotate.getByRole('button', { name: 'Done' }).click();
  await waitForText(
    page.locator('[data-ended-keys] tr', { hasText: 'production' }).first().locator('[data-still-called]'),
    /^Still called: 3 requests in the last hour by 127\.0\.0\.1 node/,
  );
  t.equal((await callMe(server, production)).status, 401, 'the old key is refused after the rotation');
  t.equal((await callMe(server, production2)).status, 200, 'the new key works');
  await waitForText(page.locator('[data-ended-summary]'), /\(2\)/);
  t.equal(await page.locator('[data-active-keys] tr').count(), 1, 'one active key left');
  t.equal(await page.locator('[data-rotation-banner]').innerText(), '', 'no rotation banner with one key');
  await screenshot(page, 'dashboard-after-rotation.png');

  // Activity: every change, newest first.
  await page.getByRole('link', { name: 'Activity', exact: true }).click();
  await page.waitForURL('**/activity');
  await waitForText(page.locator('[data-events]'), /Key revoked/);
  const actions = await page.locator('[data-events] tr .event-action').allInnerTexts();
  t.same(
    actions,
    [
      'Key revoked',
      'Key generated by a rotation',
      'Key revoked',
      'Key generated',
      'Key generated',
      'Signed in',
      'Account created',
    ],
    'the audit log, newest first',
  );
  await waitForText(page.locator('[data-events] tr', { hasText: 'by a rotation' }), /Replaces “production”/);
  t.ok(await page.locator('[data-load-more-row]').isHidden(), 'no "Load older" when everything is shown');
  await screenshot(page, 'dashboard-activity.png');

  // Sign out, then back in: the page asked for comes back.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/sign-in?signed-out=1');
  await waitForText(page.locator('[data-page-alert]'), /You have signed out\./);
  await page.goto('/activity');
  t.match(page.url(), /\/sign-in\?next=%2Factivity$/, 'signed-out visitors are sent to sign in');
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await waitForText(page.getByRole('alert'), /Wrong email or password\./);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/activity');

  t.same(problems.errors, [], 'no script errors or CSP violations');
  t.same(problems.foreignRequests, [], 'nothing is loaded from another origin');
});
