import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TEST_ARGON2 } from '../support/services.js';
import { eventually } from '../support/wait.js';
import { groupGone, NPM_CLI, startProcess, startServer } from '../support/server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/*
 * SIGTERM while a keep-alive client has a request in flight: the request is
 * answered, the connection is then closed, and the process exits 0 by itself
 * (a forced exit after the 10 s grace is exit code 1).
 */

t.test('SIGTERM with a keep-alive request in flight: answered, then a clean exit', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-shutdown-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startServer({ KEYWARD_DATA_DIR: dataDir, ...TEST_ARGON2 });
  t.teardown(() => server.stop('SIGKILL'));

  const agent = new Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const body = JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery', accountName: 'Acme' });
  const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const signup = request(`${server.url}/v1/signup`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    signup.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection }));
    });
    signup.on('error', reject);
    signup.write(body.slice(0, 10)); // the request is in flight: its body is still arriving
    setTimeout(() => signup.end(body.slice(10)), 500);
  });
  t.ok(
    await eventually(() => /"msg":"incoming request"/.test(server.output())),
    'the server has the request (its log says so) before the signal',
  );
  const exited = server.stop('SIGTERM');

  const { status } = await answered;
  t.equal(status, 201, 'the request in flight was answered');
  t.equal(await exited, 0, 'the process exited by itself, not by the forced exit after the grace period');
  t.match(server.output(), /shut down/, 'and said so');
});

/*
 * Issue 28: `npm start` ran `sh -c "tsx src/server.ts"`. A SIGTERM to npm's PID (a process manager, `kill
 * <pid>`) was forwarded by npm to the shell, which died of it without passing it on: npm exited and the server
 * kept running, orphaned, still holding the port and the data folder.
 */
t.test('npm start: SIGTERM to npm alone stops the server, which said where to open it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-npm-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const server = await startProcess({
    args: [NPM_CLI, 'start'],
    cwd: ROOT,
    env: { KEYWARD_DATA_DIR: dataDir, npm_config_update_notifier: 'false', ...TEST_ARGON2 },
    detached: true, // a group of its own, so that the teardown can end whatever is left of it
  });
  t.teardown(() => {
    if (!groupGone(server.child.pid!)) process.kill(-server.child.pid!, 'SIGKILL');
  });
  const port = new URL(server.url).port;
  t.ok(
    await eventually(() =>
      server.output().includes(`keyward ready: open http://127.0.0.1:${port} (dashboard and API)`),
    ),
    'the ready line names the address and port',
  );
  t.equal((await fetch(`${server.url}/healthz`)).status, 200);

  process.kill(server.child.pid!, 'SIGTERM'); // npm's PID only, not its group
  t.ok(await eventually(() => groupGone(server.child.pid!), 15_000), 'npm and the server under it ended');
  t.ok(await eventually(() => /"msg":"shut down"/.test(server.output())), 'the server shut down cleanly');
});
