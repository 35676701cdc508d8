import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TEST_ARGON2 } from '../support/services.js';
import { runFailingServer, startServer } from '../support/server-process.js';

t.test('npm start on the embedded default: works, keeps data, and guards its folder', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-quick-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { KEYWARD_DATA_DIR: dataDir, ...TEST_ARGON2 };

  const server = await startServer(env);
  t.teardown(() => server.stop('SIGKILL'));
  t.match(server.output(), /single-instance mode/, 'says it runs without Redis');

  const signup = await fetch(`${server.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery', accountName: 'Acme' }),
  });
  t.equal(signup.status, 201);
  const setCookie = signup.headers.get('set-cookie')!;
  t.notMatch(setCookie, /Secure/, 'no Secure flag on plain-HTTP localhost');
  const cookie = setCookie.split(';')[0]!;
  const created = await fetch(`${server.url}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ name: 'first' }),
  });
  t.equal(created.status, 201);
  const { apiKey } = (await created.json()) as { apiKey: string };
  const me = await fetch(`${server.url}/v1/me`, { headers: { 'x-api-key': apiKey } });
  t.equal(me.status, 200);

  const second = await runFailingServer(env);
  t.equal(second.code, 1, 'a second process on the same folder refuses to start');
  t.match(second.output, /in use by process/);
  t.notMatch(second.output, /at .*\.ts:\d+/, 'a clear message, not a stack trace');

  t.equal(await server.stop(), 0, 'SIGTERM shuts down cleanly');
  t.equal((statSync(join(dataDir, 'secret')).mode & 0o777).toString(8), '600', 'generated secret is private');

  const restarted = await startServer(env);
  t.teardown(() => restarted.stop('SIGKILL'));
  const meAgain = await fetch(`${restarted.url}/v1/me`, { headers: { 'x-api-key': apiKey } });
  t.equal(meAgain.status, 200, 'keys survive a restart');
  await restarted.stop();
});

t.test('production mode without KEYWARD_SECRET stops with a message naming it', async (t) => {
  const result = await runFailingServer({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
  t.equal(result.code, 1);
  t.match(result.output, /KEYWARD_SECRET is required/);
});

t.test('an invalid variable stops start-up with a message naming it', async (t) => {
  const result = await runFailingServer({ PORT: 'eighty' });
  t.equal(result.code, 1);
  t.match(result.output, /PORT="eighty"/);
});
