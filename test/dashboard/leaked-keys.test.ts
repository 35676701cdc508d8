import t from 'tap';
import { startKeywardProcess } from '../support/server-process.js';
import { generateSigningKey, signedHeaders, startGitHubStandIn } from '../support/github-stand-in.js';
import { callMe } from '../support/app.js';
import { launchChromium, openPage, screenshot, signUpInBrowser, waitForText } from '../support/browser.js';

/*
 * A key GitHub found in public, as its owner sees it in the dashboard: a real keyward process, headless
 * Chromium, and the local GitHub stand-in (the only mock: it serves a generated P-256 key document and
 * signs the report as GitHub does). The reported url is customer-visible text from outside: it must be
 * shown as text, and be a link only when it is https.
 */

t.setTimeout(300_000);

t.test('a leaked key is revoked and the dashboard says where it was found and what to do next', async (t) => {
  const github = generateSigningKey();
  const standIn = await startGitHubStandIn([github]);
  t.teardown(() => standIn.close());
  const browser = await launchChromium(t);
  const server = await startKeywardProcess(t, { KEYWARD_GITHUB_KEYS_URL: standIn.url });
  const { page, problems } = await openPage(browser, server);
  await signUpInBrowser(page, 'leaky@example.com');
  await waitForText(page.locator('[data-active-keys]'), /No active keys/);

  const create = async (name: string) =>
    ((await (await page.request.post('/v1/keys', { data: { name } })).json()) as { apiKey: string }).apiKey;
  const ciKey = await create('ci');
  const scriptKey = await create('scripts');
  const url = 'https://github.com/acme/app/blob/4f2a9c1/.env';
  const hostile = 'javascript:alert(document.domain)//<img src=x onerror=alert(1)>';
  const report = JSON.stringify([
    { token: ciKey, type: 'keyward_api_key', url, source: 'commit' },
    { token: scriptKey, type: 'keyward_api_key', url: hostile, source: 'issue_comment' },
  ]);
  const answer = await fetch(`${server.url}/v1/secret-scanning/github`, {
    method: 'POST',
    headers: signedHeaders(report, github),
    body: report,
  });
  t.equal(answer.status, 200);
  t.equal((await callMe(server, ciKey)).status, 401, 'the leaked key is refused');

  await page.reload();
  const banners = page.locator('[data-leak-banner] .leak-banner');
  await waitForText(banners.first(), /revoked automatically/);
  t.equal(await banners.count(), 2, 'one banner per key revoked automatically');
  const ciBanner = page.locator('.leak-banner', { hasText: 'ci (' });
  const ciText = await waitForText(ciBanner, /found in public at/);
  t.match(ciText, `was revoked automatically: found in public at ${url} (in a commit), just now`);
  t.match(ciText, /Next: generate a replacement key, roll it out/);
  t.equal(await ciBanner.locator('a').getAttribute('href'), url, 'an https url is a link');
  t.equal(await ciBanner.locator('a').getAttribute('rel'), 'noopener noreferrer nofollow');

  const scriptBanner = page.locator('.leak-banner', { hasText: 'scripts (' });
  t.match(await scriptBanner.innerText(), hostile, 'any other url is shown as text, as reported');
  t.equal(await scriptBanner.locator('a').count(), 0, 'and is no link');
  t.equal(await page.locator('main img, main a[href^="javascript"]').count(), 0, 'nothing from the url became markup');

  // The key list says so too, under each key's status.
  await page.locator('[data-ended-summary]').click();
  // By its exact name: hasText matches substrings, case-insensitively, and a random key id may hold "ci".
  const ciRow = page.locator('[data-ended-keys] tr').filter({ has: page.getByText('ci', { exact: true }) });
  await waitForText(ciRow, /Revoked/);
  t.match(await ciRow.locator('[data-leak-note]').innerText(), `Revoked automatically: found in public at ${url}`);
  await screenshot(page, 'leaked-key.png');

  // The next step: generate a replacement.
  await ciBanner.getByRole('button', { name: 'Generate a replacement' }).click();
  t.ok(await page.getByRole('dialog', { name: 'Generate API key' }).isVisible(), 'opens the generate dialog');

  // Activity shows the report and the revocation, the url as text.
  await page.goto('/activity');
  // The events, not all of main: the event filter's options name "Key found in public" before any event loads.
  const activity = await waitForText(page.locator('[data-events]'), /Found in public/);
  t.match(activity, `Found in public at ${url} (commit)`);
  t.match(activity, `Found in public at ${hostile} (issue_comment)`);
  t.match(activity, /secret-scanning:github/);
  t.equal(await page.locator('main img, main a[href^="javascript"]').count(), 0);

  t.same(problems.errors, [], 'no script errors or CSP violations');
  t.same(problems.foreignRequests, [], 'nothing loaded from elsewhere');
});
