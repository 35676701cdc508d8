import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { PACKAGE_ROOT } from '../../src/db/database.js';
import { startKeywardProcess } from '../helper.js';
import { startProcess, type ServerProcess } from '../process/server-process.js';

/*
 * keyward as another team installs it: `npm pack` of this tree, installed into
 * an empty project with npm's defaults and --omit=dev, then two services of the
 * fleet run from that install against real Postgres and Redis and a running
 * keyward: a Fastify app that registers the plugin without `await`, with routes
 * before and after it, and an Express app with the middleware.
 */

// Packing builds (tsc) and the install compiles argon2 from source: minutes, not seconds, on 2 cores.
t.setTimeout(600_000);
const run = promisify(execFile);

/** npm with none of the npm_config_* variables of the `npm test` that runs this file. */
function npm(args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
}

const FASTIFY_APP = `
import Fastify from 'fastify';
import { apiKeyAuth } from 'keyward/fastify';

const app = Fastify();
const orders = async (request) => ({ account: request.apiKey.accountId, key: request.apiKey.keyId });
app.get('/early', { config: { apiKey: true } }, orders);
app.register(apiKeyAuth, {
  databaseUrl: process.env.DATABASE_URL,
  redisUrl: process.env.REDIS_URL,
  redisKeyPrefix: process.env.REDIS_KEY_PREFIX,
  secret: process.env.KEYWARD_SECRET,
}); // not awaited
app.get('/late', { config: { apiKey: true } }, orders);
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log('Server listening at ' + address);
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

const EXPRESS_APP = `
import express from 'express';
import { apiKeyMiddleware, openApiKeyChecker } from 'keyward/express';

const checker = await openApiKeyChecker({
  databaseUrl: process.env.DATABASE_URL,
  redisUrl: process.env.REDIS_URL,
  redisKeyPrefix: process.env.REDIS_KEY_PREFIX,
  secret: process.env.KEYWARD_SECRET,
});
const app = express();
app.get('/orders', apiKeyMiddleware(checker), (req, res) => res.json({ account: req.apiKey.accountId, key: req.apiKey.keyId }));
const server = app.listen(0, '127.0.0.1', () => console.log('Server listening at http://127.0.0.1:' + server.address().port));
process.once('SIGTERM', () => server.close(() => checker.close().then(() => process.exit(0))));
`;

/** Packages only keyward's own server loads: removed from the install to prove the services never load them. */
const SERVER_ONLY_PACKAGES = [
  '@electric-sql/pglite',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  '@fastify/cookie',
  'prom-client',
];

const project = mkdtempSync(join(tmpdir(), 'keyward-packed-'));
t.teardown(() => rmSync(project, { recursive: true, force: true }));

t.test('the packed tarball installs with npm defaults, light, and runs no install script of its own', async (t) => {
  const { stdout } = await npm(['pack', '--json', '--pack-destination', project], PACKAGE_ROOT);
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string }>;
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'fleet-service', private: true, type: 'module' }),
  );
  await npm(['install', '--omit=dev', '--no-audit', '--no-fund', `./${packed!.filename}`, 'express@5'], project);

  const modules = join(project, 'node_modules');
  const manifest = JSON.parse(readFileSync(join(modules, 'keyward', 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
    t.notOk(manifest.scripts?.[hook], `keyward has no ${hook} script`);
  }
  for (const name of ['tsx', 'esbuild', 'typescript', 'drizzle-kit']) {
    t.notOk(existsSync(join(modules, name)), `${name} is not installed`);
  }
  t.ok(existsSync(join(modules, 'fastify')), 'fastify, a peer dependency, is installed once, at the top');
  t.notOk(existsSync(join(modules, 'keyward', 'node_modules', 'fastify')), 'keyward has no fastify of its own');
  const shipped = readdirSync(join(modules, 'keyward'));
  t.same(shipped.sort(), ['README.md', 'dist', 'drizzle', 'package.json', 'src'], 'only the files list ships');
  t.notOk(existsSync(join(modules, 'keyward', 'dist', 'src', 'index.ts')), 'compiled JavaScript only');

  for (const name of SERVER_ONLY_PACKAGES) rmSync(join(modules, name), { recursive: true, force: true });
  writeFileSync(join(project, 'fastify-app.mjs'), FASTIFY_APP);
  writeFileSync(join(project, 'express-app.mjs'), EXPRESS_APP);
});

t.test('a Fastify and an Express service from the install check keys and hear revocations', async (t) => {
  const keyward = await startKeywardProcess(t);
  const connection = {
    DATABASE_URL: keyward.env.DATABASE_URL!,
    REDIS_URL: keyward.env.REDIS_URL!,
    REDIS_KEY_PREFIX: keyward.env.REDIS_KEY_PREFIX!,
    KEYWARD_SECRET: keyward.env.KEYWARD_SECRET!,
  };
  const services: ServerProcess[] = [];
  for (const script of ['fastify-app.mjs', 'express-app.mjs']) {
    const service = await startProcess({ args: [script], cwd: project, env: connection });
    t.teardown(() => service.stop());
    services.push(service);
  }
  const [fastifyService, expressService] = services as [ServerProcess, ServerProcess];
  const protectedUrls = [`${fastifyService.url}/early`, `${fastifyService.url}/late`, `${expressService.url}/orders`];

  const signUp = await fetch(`${keyward.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'fleet@example.com', password: 'correct horse battery', accountName: 'Fleet' }),
  });
  t.equal(signUp.status, 201);
  const cookie = signUp.headers.getSetCookie()[0]!.split(';')[0]!;
  const account = ((await signUp.json()) as { account: { id: string } }).account.id;
  const created = await fetch(`${keyward.url}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: '{}',
  });
  const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };

  for (const url of protectedUrls) {
    t.equal((await fetch(url)).status, 401, `${url}: refused without a key`);
    const valid = await fetch(url, { headers: { 'x-api-key': apiKey } });
    t.equal(valid.status, 200, `${url}: served with the key`);
    t.same(await valid.json(), { account, key: key.id });
  }

  const revoke = await fetch(`${keyward.url}/v1/keys/${key.id}`, { method: 'DELETE', headers: { cookie } });
  t.equal(revoke.status, 200);
  for (const url of protectedUrls) {
    t.equal((await fetch(url, { headers: { 'x-api-key': apiKey } })).status, 401, `${url}: refused once revoked`);
  }
});
