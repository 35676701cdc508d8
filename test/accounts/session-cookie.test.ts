/**
 * Issue #15, class 11: with NODE_ENV=production (or a Postgres database) the session cookie is Secure and
 * named `__Host-keyward_session`, whatever the database, so browsers never send it over plain HTTP and no
 * sibling subdomain can plant one; an unprefixed cookie is then ignored. Through the real server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { signUpOver } from '../support/http.js';
import { TEST_ARGON2 } from '../support/services.js';
import { startKeywardProcess, startServer, type ServerProcess } from '../support/server-process.js';

// Real server processes, one on a fresh embedded database (PGlite creates it: the slow part of a first start).
t.setTimeout(300_000);

async function embedded(t: Test, env: Record<string, string>): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-cookie-'));
  const server = await startServer({ KEYWARD_DATA_DIR: dataDir, ...TEST_ARGON2, ...env });
  t.teardown(async () => {
    await server.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

/** Signs up over HTTP; the Set-Cookie header and the cookie's name and value. */
async function signedUpCookie(server: ServerProcess, email: string) {
  const { status, setCookie } = await signUpOver(server.url, email, 'Cookies');
  t.equal(status, 201, 'signed up');
  const [pair = ''] = setCookie.split(';');
  return { setCookie, name: pair.slice(0, pair.indexOf('=')), token: pair.slice(pair.indexOf('=') + 1) };
}

/** The cookie names the served OpenAPI document accepts for GET /v1/session (any one of its security requirements). */
async function documentedCookies(server: ServerProcess): Promise<string[]> {
  const document = (await (await fetch(`${server.url}/docs/json`)).json()) as {
    paths: Record<string, Record<string, { security: Array<Record<string, string[]>> }>>;
    components: { securitySchemes: Record<string, { in: string; name: string }> };
  };
  const schemes = document.paths['/v1/session']!.get!.security.flatMap((requirement) => Object.keys(requirement));
  return schemes
    .map((scheme) => document.components.securitySchemes[scheme]!)
    .filter((scheme) => scheme.in === 'cookie')
    .map((scheme) => scheme.name);
}

const session = (server: ServerProcess, cookie: string) =>
  fetch(`${server.url}/v1/session`, { headers: { cookie } }).then((response) => response.status);

async function expectHostPrefixed(t: Test, server: ServerProcess, email: string) {
  const { setCookie, name, token } = await signedUpCookie(server, email);
  t.equal(name, '__Host-keyward_session', 'the cookie has the __Host- prefix');
  t.ok((await documentedCookies(server)).includes(name), 'the OpenAPI document names the cookie really set');
  t.match(setCookie, /; Secure/i, 'Secure');
  t.match(setCookie, /; Path=\//, 'Path=/');
  t.notMatch(setCookie, /Domain=/i, 'no Domain');
  t.match(setCookie, /HttpOnly/i);
  t.match(setCookie, /SameSite=Strict/i);
  t.equal(await session(server, `__Host-keyward_session=${token}`), 200, 'the session works');
  t.equal(await session(server, `keyward_session=${token}`), 401, 'an unprefixed cookie is ignored');
  t.equal(
    await session(server, `keyward_session=${token}; __Host-keyward_session=forged`),
    401,
    'a planted unprefixed cookie cannot stand in for a bad prefixed one',
  );
  const page = await fetch(`${server.url}/`, {
    headers: { cookie: `__Host-keyward_session=${token}` },
    redirect: 'manual',
  });
  const signedOut = await fetch(`${server.url}/`, {
    headers: { cookie: `keyward_session=${token}` },
    redirect: 'manual',
  });
  t.not(page.headers.get('location'), signedOut.headers.get('location'), 'the dashboard reads the same cookie');
  const logout = await fetch(`${server.url}/v1/logout`, {
    method: 'POST',
    headers: { cookie: `__Host-keyward_session=${token}` },
  });
  t.equal(logout.status, 204);
  t.match(logout.headers.get('set-cookie') ?? '', /^__Host-keyward_session=;.*Secure/i, 'sign-out clears that cookie');
  t.equal(await session(server, `__Host-keyward_session=${token}`), 401, 'and the session is over');
}

t.test('NODE_ENV=production on the embedded default: Secure, __Host-', async (t) => {
  await expectHostPrefixed(t, await embedded(t, { NODE_ENV: 'production' }), 'embedded@example.com');
});

t.test('with Postgres and KEYWARD_COOKIE_SECURE unset: Secure, __Host-', async (t) => {
  await expectHostPrefixed(t, await startKeywardProcess(t, { KEYWARD_COOKIE_SECURE: '' }), 'postgres@example.com');
});

t.test('an operator who turns Secure off gets the plain name (browsers refuse __Host- without Secure)', async (t) => {
  const server = await embedded(t, { NODE_ENV: 'production', KEYWARD_COOKIE_SECURE: 'false' });
  const { setCookie, name, token } = await signedUpCookie(server, 'plain@example.com');
  t.equal(name, 'keyward_session');
  t.notMatch(setCookie, /Secure/i);
  t.same(
    await documentedCookies(server),
    ['keyward_session', '__Host-keyward_session'],
    'the OpenAPI document names both cookies, this one among them',
  );
  t.equal(await session(server, `keyward_session=${token}`), 200);
});
