import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildTestApp, createKey, revokeKey, signUp } from '../support/app.js';
import { freePort } from '../support/redis-server.js';
import { sleep } from '../support/wait.js';

const CONFIG = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));
const hasNginx = spawnSync('nginx', ['-v']).status === 0;

/*
 * The nginx config shipped in deploy/ really works: run it (service names
 * rewritten to local ports) in front of a real keyward and an echo upstream.
 */
t.test(
  'deploy/nginx.conf: forward auth in front of an API',
  { skip: !hasNginx && !process.env.CI && 'nginx is not installed' },
  async (t) => {
    t.ok(hasNginx, 'nginx is installed (CI installs Debian nginx-light)');
    const { app } = await buildTestApp(t, { env: { KEYWARD_TRUSTED_PROXY_HOPS: '1' } });
    const keywardPort = await freePort();
    await app.listen({ port: keywardPort, host: '127.0.0.1' });

    // The "example API": echoes the identity headers nginx passes upstream.
    const upstream = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          account: request.headers['x-account-id'] ?? null,
          key: request.headers['x-key-id'] ?? null,
          sawApiKey: request.headers['x-api-key'] !== undefined,
        }),
      );
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upstreamPort = (upstream.address() as { port: number }).port;

    const nginxPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'keyward-nginx-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const config = readFileSync(CONFIG, 'utf8')
      .replace(/server keyward-\d+:3000[^;]*;/g, `server 127.0.0.1:${keywardPort};`)
      .replaceAll('http://example-api:80/', `http://127.0.0.1:${upstreamPort}/`)
      .replace('listen 8080;', `listen 127.0.0.1:${nginxPort};`)
      .replace('http {', `http {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};`);
    writeFileSync(join(dir, 'nginx.conf'), config);
    const args = [
      '-p',
      dir,
      '-c',
      join(dir, 'nginx.conf'),
      '-g',
      `daemon off; pid ${dir}/nginx.pid; error_log stderr;`,
    ];

    const check = spawnSync('nginx', ['-t', ...args], { encoding: 'utf8' });
    t.equal(check.status, 0, `nginx -t: ${check.stderr}`);

    // Its own process group, so that master and workers stop together.
    const nginx = spawn('nginx', args, { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
    // Stopped at the end of the test, before keyward closes (teardowns run first-in, first-out):
    // nginx's keep-alive connections would hold keyward's close.
    const stopNginx = async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        const exited = once(nginx, 'exit');
        process.kill(-nginx.pid!, 'SIGKILL');
        await exited;
      }
      upstream.closeAllConnections();
      upstream.close();
    };
    const base = `http://127.0.0.1:${nginxPort}`;
    for (let i = 0; i < 50; i++) {
      if (
        await fetch(`${base}/readyz`).then(
          () => true,
          () => false,
        )
      )
        break;
      await sleep(100);
    }

    const user = await signUp(app);
    const key = await createKey(app, user.cookie);

    const allowed = await fetch(`${base}/api/orders`, { headers: { 'x-api-key': key.apiKey } });
    t.equal(allowed.status, 200);
    t.same(await allowed.json(), { account: user.accountId, key: key.keyId, sawApiKey: false });

    const missing = await fetch(`${base}/api/orders`);
    t.equal(missing.status, 401, 'no key: refused before the API sees anything');
    const wrong = await fetch(`${base}/api/orders`, { headers: { 'x-api-key': 'kw_nope' } });
    t.equal(wrong.status, 401);

    // A location that asks for a scope: a key limited to other scopes is refused there, and only there.
    const limited = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { cookie: user.cookie },
      payload: { scopes: ['orders:read'] },
    });
    const limitedKey = limited.json().apiKey as string;
    const admin = (apiKey: string) => fetch(`${base}/api/admin/users`, { headers: { 'x-api-key': apiKey } });
    t.equal((await admin(limitedKey)).status, 403, 'a key without the scope "admin" is refused at /api/admin/');
    t.equal(
      (await fetch(`${base}/api/orders`, { headers: { 'x-api-key': limitedKey } })).status,
      200,
      'the same key passes where no scope is asked',
    );
    t.equal((await admin(key.apiKey)).status, 200, 'a full-access key passes at /api/admin/');

    await revokeKey(app, user.cookie, key.keyId);
    const revoked = await fetch(`${base}/api/orders`, { headers: { 'x-api-key': key.apiKey } });
    t.equal(revoked.status, 401, 'a revoked key is refused at the proxy at once');

    const health = await fetch(`${base}/healthz`);
    t.equal(health.status, 200, 'keyward itself is proxied');
    await stopNginx();
  },
);
