/**
 * The dashboard's end-to-end tests: a real keyward process (Postgres, Redis)
 * and headless Chromium driven by playwright-core. Chromium is Debian's
 * (/usr/bin/chromium, installed by .ci/run); no browser is ever downloaded.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { startKeywardProcess } from './server-process.js';
import type { ServerProcess } from './server-process.js';
import { PASSWORD } from './http.js';
import { sleep } from './wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS_DIR = join(ROOT, 'test-artifacts');
export const DOCS_DIR = join(ROOT, 'docs');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export { PASSWORD };

/** Headless Chromium, closed in teardown; fails with instructions when it is not installed. */
export async function launchChromium(t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `The dashboard tests need Chromium at ${CHROMIUM_PATH}, and it is missing. Install Debian's package ` +
        '(`apt-get install -y chromium`; .ci/run does this) or point CHROMIUM_PATH at a Chromium binary. ' +
        'Playwright never downloads a browser here.',
    );
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  return browser;
}

/** keyward as `npm start` runs it, on a fresh database and Redis prefix, usage flushed every 300 ms. */
export function startKeyward(t: Test): Promise<ServerProcess> {
  return startKeywardProcess(t, {
    KEYWARD_USAGE_FLUSH_MS: '300',
    // The Activity test fills a page with failed sign-ins; the sign-in limit has its own test.
    KEYWARD_LOGIN_FAILURE_LIMIT: '1000',
  });
}

type PageOptions = { viewport?: { width: number; height: number } };

/** Headless Chromium and a keyward process (startKeyward) for a test; `openPage` opens a page of that keyward. */
export async function startDashboard(t: Test) {
  const browser = await launchChromium(t);
  const server = await startKeyward(t);
  return {
    browser,
    server,
    openPage: (options: PageOptions = {}) => openPage(browser, server, options),
    /** A page signed up as `email` (a new account), on the API keys page. */
    signedInPage: async (email: string, options: PageOptions = {}) => {
      const opened = await openPage(browser, server, options);
      await signUpInBrowser(opened.page, email);
      return opened;
    },
  };
}

/** What a page did that it should not: script errors, CSP violations, requests to other origins. */
export interface PageProblems {
  errors: string[];
  foreignRequests: string[];
}

export interface DashboardPage {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

export async function openPage(
  browser: Browser,
  server: ServerProcess,
  options: PageOptions = {},
): Promise<DashboardPage> {
  const context = await browser.newContext({
    baseURL: server.url,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems: PageProblems = { errors: [], foreignRequests: [] };
  page.on('pageerror', (error) => problems.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Chromium logs every 4xx/5xx fetch as "Failed to load resource"; the pages expect some (a wrong password).
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.errors.push(`console: ${message.text()}`);
    }
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(server.url)) problems.foreignRequests.push(request.url());
  });
  return { context, page, problems };
}

/** Waits until the locator's text matches (the dashboard polls, so some text arrives later). */
export async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    if (pattern.test(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${pattern} in ${locator}; last text: ${JSON.stringify(last)}`);
}

/** Saves test-artifacts/<name> (the whole page, or the viewport when a modal dialog is open), and a copy if asked. */
/**
 * Saves a screenshot into test-artifacts/. `copyTo` (the README's picture) is
 * refreshed only when UPDATE_SCREENSHOTS=1, so that a test run leaves the tree clean.
 */
export async function screenshot(page: Page, name: string, copyTo?: string): Promise<void> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const fullPage = (await page.locator('dialog[open]').count()) === 0;
  await page.screenshot({ path: join(ARTIFACTS_DIR, name), fullPage });
  if (copyTo !== undefined && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(dirname(copyTo), { recursive: true });
    copyFileSync(join(ARTIFACTS_DIR, name), copyTo);
  }
}

/** Waits until keyward has counted a request with the key (usage is flushed every KEYWARD_USAGE_FLUSH_MS). */
export async function waitForUsage(page: Page, keyName: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { keys } = (await (await page.request.get('/v1/keys')).json()) as {
      keys: { name: string; lastUsedAt: string | null }[];
    };
    if (keys.some((key) => key.name === keyName && key.lastUsedAt !== null)) return;
    await sleep(100);
  }
  throw new Error(`no use of ${keyName} was recorded within ${timeoutMs} ms`);
}

/** Signs up through the sign-up page; leaves the browser on the API keys page. */
export async function signUpInBrowser(page: Page, email: string, accountName = 'Acme'): Promise<void> {
  await page.goto('/sign-up');
  await page.getByLabel('Account name').fill(accountName);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/settings/api-keys');
}

/** The element focused now, described by its tag, id and accessible-ish name (evaluated in the page). */
export function focusedElement(page: Page): Promise<string> {
  return page.evaluate<string>(`(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return 'body';
    const label = element.getAttribute('aria-label') ?? element.textContent?.trim() ?? '';
    return (element.tagName.toLowerCase() + (element.id ? '#' + element.id : '') + ' ' + label).trim();
  })()`);
}

/** The focused element's accessible-ish name alone: its aria-label, or its text. */
export function focusedLabel(page: Page): Promise<string> {
  return page.evaluate<string>(`(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return 'body';
    return (element.getAttribute('aria-label') ?? element.textContent ?? '').trim();
  })()`);
}

/** Waits until the focused element, as `describe` tells it, matches; returns that description. */
export async function waitForFocus(
  page: Page,
  pattern: RegExp,
  describe: (page: Page) => Promise<string> = focusedElement,
  timeoutMs = 5000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let now = '';
  while (Date.now() < deadline) {
    now = await describe(page);
    if (pattern.test(now)) return now;
    await sleep(50);
  }
  throw new Error(`focus never reached ${pattern}; it is on ${now}`);
}

/** Creates a key through the API with the page's session (no dialog); the status, the full key and its id. */
export async function createKeyFromPage(page: Page, name: string) {
  const response = await page.request.post('/v1/keys', { data: { name } });
  const body = (await response.json()) as { apiKey: string; key: { id: string } };
  return { status: response.status(), ...body };
}

/** Opens the rotation dialog of the key named `keyName` from its card. */
export async function openRotation(page: Page, keyName: string): Promise<Locator> {
  await page.getByRole('button', { name: `Rotate ${keyName}` }).click();
  return page.getByRole('dialog', { name: `Rotate “${keyName}”` });
}
