import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import t from 'tap';
import { OPENAPI_PATH } from '../../src/app/openapi-document.js';
import { DOCS_PREFIX } from '../../src/app/openapi-plugin.js';
import { buildTestApp } from '../support/app.js';

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

t.setTimeout(240_000);
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

t.test("/docs in keyward's look: a header with the way back, dark in dark mode, usable on a phone", async (t) => {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`This test needs Chromium at ${CHROMIUM_PATH}.`);
  const address = app.server.address();
  const origin =
    address !== null && typeof address === 'object'
      ? `http://127.0.0.1:${address.port}`
      : await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());
  const problems: string[] = [];
  const lightness = (colour: string) => {
    const [r, g, b] = colour.match(/\d+/g)!.map(Number) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };

  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      const page = await browser.newPage({ viewport, colorScheme });
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${origin}${DOCS_PREFIX}`);
      await page.locator('.opblock').first().waitFor();
      const where = `${viewport.width} px ${colorScheme}`;

      const header = page.getByRole('banner');
      t.match(await header.innerText(), /keyward.*API reference/s, `${where}: the keyward header`);
      const back = header.getByRole('link', { name: 'Back to the dashboard' });
      t.ok(await back.isVisible(), `${where}: the way back is visible`);
      t.equal(await back.getAttribute('href'), '/', `${where}: it leads to the dashboard`);
      const box = (await back.boundingBox())!;
      t.ok(box.height >= 44 && box.x >= 0 && box.x + box.width <= viewport.width, `${where}: a 44 px target on screen`);
      t.equal(await page.title(), 'keyward API reference');

      const body = lightness(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor'));
      const colourOf = (selector: string) =>
        page.evaluate<string>(`getComputedStyle(document.querySelector(${JSON.stringify(selector)})).color`);
      const title = lightness(await colourOf('.swagger-ui .info .title'));
      const path = lightness(await colourOf('.opblock-summary-path'));
      if (colorScheme === 'dark') {
        t.ok(body < 40, `${where}: a dark background (${body.toFixed(0)})`);
        t.ok(title > 180 && path > 180, `${where}: light text on it`);
      } else {
        t.ok(body > 230, `${where}: a light background`);
        t.ok(title < 80 && path < 80, `${where}: dark text on it`);
      }
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - innerWidth');
      t.ok(overflow <= 0, `${where}: no sideways scrolling`);
      if (viewport.width === 390) {
        // Usable: an operation opens, and its Try it out button is on screen.
        const operation = page.locator('#operations-account-getSession');
        await operation.locator('.opblock-summary').click();
        const tryIt = operation.getByRole('button', { name: 'Try it out' });
        const tryBox = (await tryIt.boundingBox())!;
        t.ok(tryBox.x >= 0 && tryBox.x + tryBox.width <= 390, `${where}: an opened operation fits the screen`);
      }
      const { mkdirSync } = await import('node:fs');
      mkdirSync('test-artifacts', { recursive: true });
      await page.screenshot({ path: `test-artifacts/docs-${viewport.width}-${colorScheme}.png` });
      await page.close();
    }
  }

  await (async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}${DOCS_PREFIX}`);
    await page.getByRole('link', { name: 'Back to the dashboard' }).click();
    await page.waitForURL(/\/sign-in/);
    t.pass('the way back reaches the dashboard (its sign-in, for a visitor)');
    await page.close();
  })();
  t.same(problems, [], 'no console errors (a CSP violation would be one)');
});
