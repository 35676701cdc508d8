import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import t from 'tap';
import { OPENAPI_PATH } from '../../src/app/openapi-document.js';
import { DOCS_PREFIX } from '../../src/app/openapi-plugin.js';
import { buildTestApp } from '../support/app.js';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const { app } = await buildTestApp(t, { embedded: true });

t.test('GET /docs serves Swagger UI from this origin, pointing at the served spec', async (t) => {
  let page = await app.inject({ method: 'GET', url: DOCS_PREFIX });
  for (let hops = 0; page.statusCode >= 300 && page.statusCode < 400 && hops < 5; hops++) {
    page = await app.inject({ method: 'GET', url: new URL(page.headers.location!, 'http://localhost').pathname });
  }
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<div id="swagger-ui">/);

  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/, 'a CSP of its own');
  t.match(csp, /script-src 'self'/);
  t.notMatch(csp, /https?:|unsafe-inline|unsafe-eval/, 'no other origin, no inline code');
  t.equal(page.headers['x-content-type-options'], 'nosniff');

  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
  t.ok(assets.length >= 5, 'it loads scripts and styles');
  for (const asset of assets) {
    t.notMatch(asset, /^(https?:)?\/\//, `${asset} is same-origin`);
    const response = await app.inject({
      method: 'GET',
      url: new URL(asset, `http://localhost${DOCS_PREFIX}`).pathname,
    });
    t.equal(response.statusCode, 200, `${asset} is served`);
  }

  const initializer = await app.inject({ method: 'GET', url: `${DOCS_PREFIX}/static/swagger-initializer.js` });
  t.match(initializer.body, /url: resolveUrl\('\.\/json'\)/, 'Swagger UI loads the spec from ./json');
  const spec = await app.inject({ method: 'GET', url: `${DOCS_PREFIX}/json` });
  t.equal(spec.statusCode, 200);
  t.same(spec.json(), JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')), 'the spec served is the committed one');
  t.notOk(
    Object.keys(spec.json().paths).some((path) => path.startsWith(DOCS_PREFIX)),
    'the docs routes are not in the spec',
  );
});

t.test('in Chromium, /docs renders every operation and calls the API, loading nothing from elsewhere', async (t) => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `This test needs Chromium at ${CHROMIUM_PATH}: install Debian's package (.ci/run does) or set CHROMIUM_PATH.`,
    );
  }
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));

  await page.goto(`${origin}${DOCS_PREFIX}`);
  const spec = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));
  const operations = Object.values<object>(spec.paths).reduce((sum, methods) => sum + Object.keys(methods).length, 0);
  await page
    .locator('.opblock')
    .nth(operations - 1)
    .waitFor();
  t.equal(await page.locator('.opblock').count(), operations, 'every operation is shown');

  // "Try it out" with the documented example: signs up, and the browser keeps the session cookie.
  const signUp = page.locator('#operations-account-signUp');
  await signUp.locator('.opblock-summary').click();
  await signUp.getByRole('button', { name: 'Try it out' }).click();
  await signUp.getByRole('button', { name: 'Execute' }).click();
  await t.resolves(signUp.locator('.live-responses-table .response-col_status', { hasText: '201' }).waitFor());
  const session = page.locator('#operations-account-getSession');
  await session.locator('.opblock-summary').click();
  await session.getByRole('button', { name: 'Try it out' }).click();
  await session.getByRole('button', { name: 'Execute' }).click();
  await t.resolves(session.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor());

  t.same(
    requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin),
    [],
    'every request went to this origin',
  );
  t.same(problems, [], 'no console errors (a CSP violation would be one)');
});
