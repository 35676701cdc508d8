import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TEST_ARGON2 } from '../support/services.js';
import { eventually } from '../support/wait.js';
import { startServer } from '../support/server-process.js';

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
