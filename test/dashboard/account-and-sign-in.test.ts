/**
 * Settings → Account, sign-in and sign-up, and the top bar (issue #28), at 1280 px and 390 px, light and dark:
 * sessions listed and signed out one by one, the current page marked in the nav, the email field focused on
 * load, a taken email said on its field with "Sign in instead", a readable "Settings" label, 44 px tap targets.
 */
import type { Page } from 'playwright-core';
import t from 'tap';
import { focusedElement, PASSWORD, screenshot, startDashboard, waitForFocus, waitForText } from '../support/browser.js';

t.setTimeout(300_000);
const { openPage, signedInPage } = await startDashboard(t);

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
const SCHEMES = ['light', 'dark'] as const;

/** WCAG 2 contrast ratio of two rgb(…) colours. */
function contrast(a: string, b: string): number {
  const luminance = (colour: string) => {
    const [r, g, bl] = /rgba?\((\d+),\s*(\d+),\s*(\d+)/
      .exec(colour)!
      .slice(1)
      .map((value) => Number(value) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}

/** The text colour of `selector` and the background it is drawn on (the nearest ancestor that paints one). */
function colours(page: Page, selector: string): Promise<{ color: string; background: string }> {
  return page.evaluate<{ color: string; background: string }>(`(() => {
    let element = document.querySelector(${JSON.stringify(selector)});
    const color = getComputedStyle(element).color;
    let background = 'rgba(0, 0, 0, 0)';
    for (; element && /rgba\\(0, 0, 0, 0\\)|transparent/.test(background); element = element.parentElement) {
      background = getComputedStyle(element).backgroundColor;
    }
    if (/rgba\\(0, 0, 0, 0\\)/.test(background)) background = getComputedStyle(document.body).backgroundColor;
    return { color, background };
  })()`);
}

/** Visible controls within `root` smaller than 44 × 44 px: "tag text w×h" each. */
function smallTargets(page: Page, root = 'body'): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const small = [];
    const controls = document.querySelector(${JSON.stringify(root)}).querySelectorAll('a[href], button, input, select, textarea, summary');
    for (const element of controls) {
      if (element.classList.contains('skip-link')) continue; // off-screen until focused
      const box = element.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || getComputedStyle(element).visibility === 'hidden') continue;
      if (box.width < 44 || box.height < 44) {
        const text = (element.getAttribute('aria-label') || element.textContent || element.name || '').trim();
        small.push(element.tagName.toLowerCase() + ' "' + text.slice(0, 30) + '" ' + Math.round(box.width) + '×' + Math.round(box.height));
      }
    }
    return small;
  })()`);
}

let accounts = 0;

for (const viewport of VIEWPORTS) {
  for (const scheme of SCHEMES) {
    const label = `${viewport.width} px, ${scheme}`;
    const size = { viewport: { width: viewport.width, height: viewport.height } };

    t.test(`sign-in and sign-up: the email field focused; a taken email on its field (${label})`, async (t) => {
      const email = `taken-${viewport.name}-${scheme}@example.com`;
      await (await signedInPage(email, size)).context.close();
      const { page, context, problems } = await openPage(size);
      t.teardown(() => context.close());
      await page.emulateMedia({ colorScheme: scheme });

      await page.goto('/sign-in');
      t.match(await waitForFocus(page, /^input#email/), /^input#email/, 'sign-in: the email field is focused');
      if (viewport.width < 500) t.same(await smallTargets(page), [], 'sign-in: every control at least 44 × 44 px');
      await page.goto('/sign-up?next=/activity');
      t.match(await waitForFocus(page, /^input#email/), /^input#email/, 'sign-up: the email field is focused');

      await page.keyboard.type(email.toUpperCase());
      await page.getByLabel('Account name').fill('Twice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      const error = page.locator('#email-error');
      await waitForText(error, /An account with this email already exists\. Sign in instead/);
      t.equal(await page.getByLabel('Email').getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
      t.match(await focusedElement(page), /^input#email/, 'focus is on the field to correct');
      t.equal(await page.locator('[data-page-alert]').innerText(), '', 'said on the field, not above the form');
      const signIn = error.getByRole('link', { name: 'Sign in instead' });
      t.equal(await signIn.getAttribute('href'), '/sign-in?next=%2Factivity', 'the link goes on where sign-up would');
      if (viewport.width < 500) t.same(await smallTargets(page), [], 'sign-up: every control at least 44 × 44 px');
      await screenshot(page, `sign-up-taken-${viewport.name}-${scheme}.png`);

      await signIn.click();
      await page.waitForURL('**/sign-in?next=%2Factivity');
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL('**/activity');
      t.same(problems.errors, []);
    });

    t.test(`Account: sessions listed, one signed out at a time; nav marked; readable label (${label})`, async (t) => {
      const email = `sessions-${viewport.name}-${scheme}-${++accounts}@example.com`;
      const { page, context, problems } = await signedInPage(email, size);
      t.teardown(() => context.close());
      await page.emulateMedia({ colorScheme: scheme });

      // The top bar marks the page it is on, visibly.
      for (const [path, name] of [
        ['/settings/api-keys', 'API keys'],
        ['/activity', 'Activity'],
      ] as const) {
        await page.goto(path);
        const nav = page.getByRole('navigation', { name: 'Dashboard' });
        t.same(await nav.locator('[aria-current="page"]').allInnerTexts(), [name], `${path}: only "${name}" is marked`);
        const [marked, other] = await Promise.all(
          [`.nav a[aria-current="page"]`, `.nav a:not([aria-current])`].map((selector) =>
            page.evaluate<string>(`getComputedStyle(document.querySelector('${selector}')).borderBottomColor`),
          ),
        );
        t.not(marked, other, `${path}: the marked item is underlined, the others are not`);
        if (viewport.width < 500) t.same(await smallTargets(page, '.topbar'), [], `${path}: top bar controls ≥ 44 px`);
      }

      // A second browser signed in as the same user.
      const other = await openPage(size);
      t.teardown(() => other.context.close());
      await other.page.goto('/sign-in');
      await other.page.getByLabel('Email').fill(email);
      await other.page.getByLabel('Password').fill(PASSWORD);
      await other.page.getByRole('button', { name: 'Sign in' }).click();
      await other.page.waitForURL('**/settings/api-keys');

      await page.goto('/settings/account');
      const list = page.locator('[data-session-list]');
      await waitForText(list, /This browser/);
      t.equal(await list.locator('li').count(), 2, 'both sessions are listed');
      t.match(await list.innerText(), /127\.0\.0\.1/, 'with the address');
      t.match(await list.innerText(), /Chrome \d+ on Linux/, 'and the browser');
      t.match(await list.innerText(), /signed in (just now|\d+ \w+ ago)/, 'and when');
      t.equal(await page.locator('a.account-who').getAttribute('aria-current'), 'page');

      // The "Settings" label: at least 4.5:1 on its background (it was 4.37:1 in light mode).
      const eyebrow = await colours(page, '.eyebrow');
      const ratio = contrast(eyebrow.color, eyebrow.background);
      t.ok(ratio >= 4.5, `"Settings" label ${ratio.toFixed(2)}:1 ≥ 4.5:1 (${eyebrow.color} on ${eyebrow.background})`);

      if (viewport.width < 500)
        t.same(await smallTargets(page), [], 'every control of the page and the top bar ≥ 44 px');
      await screenshot(page, `account-sessions-${viewport.name}-${scheme}.png`);

      // Sign out the other browser's session.
      const otherItem = list.locator('li', { hasNotText: 'This browser' });
      await otherItem.getByRole('button', { name: /^Sign out Chrome/ }).click();
      await waitForText(page.locator('[data-toast]'), /Session signed out/);
      await waitForText(list, /^(?!.*Chrome.*Chrome).*This browser/);
      t.equal(await list.locator('li').count(), 1, 'one session left: this one');
      t.equal((await other.page.request.get('/v1/session')).status(), 401, 'the other browser is signed out');

      // Signing out this session is signing out.
      await list.getByRole('button', { name: 'Sign out this browser' }).click();
      await page.waitForURL('**/sign-in?signed-out=1');
      await waitForText(page.locator('[data-page-alert]'), /You have signed out/);
      t.equal((await page.request.get('/v1/session')).status(), 401);
      t.same(problems.errors, []);
    });
  }
}
