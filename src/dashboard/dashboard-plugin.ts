import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { PACKAGE_ROOT } from '../db/database.js';
import { SESSION_COOKIE } from '../accounts/session-auth.js';
import type { AccountService } from '../accounts/accounts.js';
import { PARTIALS } from './partials.js';

/**
 * The static files, resolved from the package root rather than this module, so
 * that the compiled plugin in dist/ serves the same files as the source tree.
 */
export const DASHBOARD_PUBLIC_DIR = join(PACKAGE_ROOT, 'src', 'dashboard', 'public');

/** Where a signed-in user lands, and where everyone else is sent to sign in. */
export const HOME_PATH = '/settings/api-keys';
export const SIGN_IN_PATH = '/sign-in';

/** Headers on every dashboard response. The pages load nothing but their own files. */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // For browsers that predate frame-ancestors.
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The files are not fingerprinted (there is no build step), so browsers
 * revalidate every time; the ETag makes that a 304 with no body.
 */
const CACHE_CONTROL = 'no-cache';

interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

interface Page {
  url: string;
  /** The page's <main> and what follows it; layout.html (and topbar.html when signed in) goes around it. */
  file: string;
  /** Pages for signed-in users send everyone else to sign in, and the other way round. */
  access: 'signed-in' | 'signed-out';
  /** The <title>, before " · keyward". */
  title: string;
  /** The page's module under assets/. */
  script?: string;
}

const PAGES: readonly Page[] = [
  { url: SIGN_IN_PATH, file: 'sign-in.html', access: 'signed-out', title: 'Sign in', script: 'sign-in-page.js' },
  {
    url: '/sign-up',
    file: 'sign-up.html',
    access: 'signed-out',
    title: 'Create an account',
    script: 'sign-up-page.js',
  },
  { url: HOME_PATH, file: 'api-keys.html', access: 'signed-in', title: 'API keys', script: 'api-keys-page.js' },
  {
    url: '/settings/webhooks',
    file: 'webhooks.html',
    access: 'signed-in',
    title: 'Webhooks',
    script: 'webhooks-page.js',
  },
  { url: '/activity', file: 'activity.html', access: 'signed-in', title: 'Activity', script: 'activity-page.js' },
  {
    url: '/settings/account',
    file: 'account.html',
    access: 'signed-in',
    title: 'Account',
    script: 'account-page.js',
  },
];

/** Served for any address nothing else answers. */
const NOT_FOUND_PAGE: Page = { url: '', file: 'not-found.html', access: 'signed-out', title: 'Page not found' };

function staticFile(body: Buffer, contentType: string): StaticFile {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType, etag };
}

function loadFile(path: string): StaticFile {
  const contentType = CONTENT_TYPES[extname(path)];
  if (contentType === undefined) throw new Error(`keyward dashboard: no content type for ${path}`);
  return staticFile(readFileSync(path), contentType);
}

const readText = (file: string) => readFileSync(join(DASHBOARD_PUBLIC_DIR, file), 'utf8');

/** Puts `values` in for the {{name}} placeholders of `template`. */
function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (placeholder: string, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`keyward dashboard: nothing for ${placeholder}`);
    return value;
  });
}

/**
 * The pages share their <head> (layout.html) and, when signed in, the header with the navigation
 * (topbar.html, where the page's own link is marked as the current one); each file holds the rest, where a
 * {{name}} stands for the markup several pages share: PARTIALS[name] of ./partials.ts, a partial file filled with
 * its own values (the email field sign-in and sign-up share is {{emailField}}, field.html with the email's values).
 */
function loadPage(page: Page): StaticFile {
  const currentLink = `<a href="${page.url}">`;
  const topbar = readText('topbar.html').replace(currentLink, `<a href="${page.url}" aria-current="page">`);
  const partials = Object.fromEntries(
    Object.entries(PARTIALS).map(([name, [file, values]]) => [name, fill(readText(file), values).trimEnd()]),
  );
  const html = fill(readText('layout.html'), {
    title: page.title,
    script: page.script === undefined ? '' : `<script type="module" src="/assets/${page.script}"></script>`,
    body: (page.access === 'signed-in' ? topbar : '') + fill(readText(page.file), partials),
  });
  return staticFile(Buffer.from(html), CONTENT_TYPES['.html']!);
}

/** Every file below `dir`, by its URL path relative to it ("sparkline.js", "icons/key.svg"). */
function loadTree(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path).split(sep).join('/'), loadFile(path));
  }
  return files;
}

/** The stylesheet, /assets/dashboard.css: the files of `dir` (styles/), one part each, in the order of their names. */
function loadStylesheet(dir: string): StaticFile {
  const parts = readdirSync(dir)
    .filter((name) => name.endsWith('.css'))
    .sort();
  return staticFile(Buffer.concat(parts.map((name) => readFileSync(join(dir, name)))), CONTENT_TYPES['.css']!);
}

function matchesEtag(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === etag || tag === '*');
}

function sendFile(request: FastifyRequest, reply: FastifyReply, file: StaticFile): FastifyReply {
  reply.headers(DASHBOARD_SECURITY_HEADERS).header('cache-control', CACHE_CONTROL).header('etag', file.etag);
  if (matchesEtag(request, file.etag)) return reply.code(304).send();
  return reply.header('content-type', file.contentType).send(file.body);
}

function redirect(reply: FastifyReply, location: string): FastifyReply {
  // The answer depends on the session cookie: never reuse it for another one.
  return reply.headers(DASHBOARD_SECURITY_HEADERS).header('cache-control', 'no-store').redirect(location, 303);
}

export interface DashboardOptions {
  accounts: AccountService;
}

/**
 * The developer dashboard: static pages (plain HTML, CSS and ES modules under
 * src/dashboard/public) that call the JSON API. Read once at start; hidden
 * from the OpenAPI document.
 */
export const dashboard = fp<DashboardOptions>(
  async (app: FastifyInstance, { accounts }) => {
    const pages = new Map(PAGES.map((page) => [page, loadPage(page)]));
    const assets = loadTree(join(DASHBOARD_PUBLIC_DIR, 'assets'));
    assets.set('dashboard.css', loadStylesheet(join(DASHBOARD_PUBLIC_DIR, 'styles')));
    const notFound = loadPage(NOT_FOUND_PAGE);
    app.decorate('notFoundPage', (request: FastifyRequest, reply: FastifyReply) =>
      reply
        .code(404)
        .headers(DASHBOARD_SECURITY_HEADERS)
        .header('cache-control', 'no-store')
        .header('content-type', notFound.contentType)
        .send(request.method === 'HEAD' ? undefined : notFound.body),
    );

    /** true or false; undefined when the database cannot say (the page then shows the API's error itself). */
    async function isSignedIn(request: FastifyRequest): Promise<boolean | undefined> {
      const token = request.cookies[SESSION_COOKIE];
      if (!token) return false;
      try {
        return (await accounts.findSession(token)) !== null;
      } catch (error) {
        request.log.warn({ err: error }, 'dashboard: could not look up the session');
        return undefined;
      }
    }

    app.get('/', { schema: { hide: true } }, async (request, reply) => {
      return redirect(reply, (await isSignedIn(request)) === false ? SIGN_IN_PATH : HOME_PATH);
    });
    app.get('/settings', { schema: { hide: true } }, async (_request, reply) => redirect(reply, HOME_PATH));

    for (const [page, file] of pages) {
      app.get(page.url, { schema: { hide: true } }, async (request, reply) => {
        const signedIn = await isSignedIn(request);
        if (page.access === 'signed-in' && signedIn === false) {
          return redirect(reply, `${SIGN_IN_PATH}?next=${encodeURIComponent(page.url)}`);
        }
        if (page.access === 'signed-out' && signedIn === true) return redirect(reply, HOME_PATH);
        return sendFile(request, reply, file);
      });
    }

    app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, async (request, reply) => {
      const file = assets.get(request.params['*']);
      if (file === undefined) return reply.callNotFound();
      return sendFile(request, reply, file);
    });
  },
  { name: 'keyward-dashboard', dependencies: ['@fastify/cookie'] },
);
