import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createRedisPrefix, createTestDatabase, TEST_ARGON2 } from '../support/services.js';
import { signUpOver } from '../support/http.js';
import { eventually } from '../support/wait.js';
import { groupGone, NPM_CLI, startProcess, startServer } from '../support/server-process.js';

/*
 * Issue 29: one signal often reaches the server more than once. `npm start`
 * runs npm → server (`exec node --import tsx`) in one process group; Ctrl+C
 * (SIGINT) or systemd's KillMode=control-group (SIGTERM) signals every process
 * of the group, and npm (or tsx, when run as `tsx src/server.ts`) relays the
 * signal to the server again. With a handler
 * registered by `process.once`, the second signal ended the process in the
 * middle of its shutdown, before usage counts were flushed: three instances
 * stopped after 90 requests logged "shutting down" and never "shut down".
 *
 * Here the group is signalled twice while a request holds the shutdown open
 * and API traffic runs; the process must still exit 0 by itself, and every
 * request answered 200 must be in the key's usage read back after a restart.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX_CLI = join(ROOT, 'node_modules/tsx/dist/cli.mjs');

/** Sends GET /v1/me with `apiKey` in a loop until the server stops answering; counts the 200s. */
function traffic(url: string, apiKey: string, workers: number) {
  const statuses: Record<number, number> = {};
  const done = Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        let status: number;
        try {
          const response = await fetch(`${url}/v1/me`, { headers: { 'x-api-key': apiKey } });
          await response.arrayBuffer();
          status = response.status;
        } catch {
          return; // refused or reset: the server has stopped listening
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return { statuses, done };
}

/** A sign-up whose body is still arriving: the shutdown waits for it until `finish()`. */
function requestInFlight(url: string) {
  const body = JSON.stringify({ email: 'late@example.com', password: 'correct horse battery', accountName: 'Late' });
  const signup = request(`${url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  // The status, or why there was none (a process that died mid-shutdown hangs up).
  const answered = new Promise<number | string>((resolve) => {
    signup.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    signup.on('error', (error) => resolve(error.message));
  });
  signup.write(body.slice(0, 10));
  return { answered, finish: () => signup.end(body.slice(10)) };
}

const launches = [
  // Ctrl+C on `npm start` in a terminal. npm itself exits by re-raising the signal once its child is gone
  // (its own design), so what matters is the server's log and that the whole group ends.
  { name: 'npm start', args: [NPM_CLI, 'start'], signal: 'SIGINT', exitCode: null },
  // A service manager stopping `tsx src/server.ts` (KillMode=control-group): tsx exits with the server's code.
  { name: 'tsx src/server.ts', args: [TSX_CLI, 'src/server.ts'], signal: 'SIGTERM', exitCode: 0 },
] as const;

for (const { name, args, signal, exitCode } of launches) {
  t.test(`${signal} twice to the process group of ${name} under traffic: every count written`, async (t) => {
    const env = {
      DATABASE_URL: await createTestDatabase(t),
      ...(await createRedisPrefix(t).then(({ redisUrl, prefix }) => ({
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
      }))),
      KEYWARD_SECRET: randomBytes(32).toString('base64url'),
      KEYWARD_COOKIE_SECURE: 'false',
      LOG_LEVEL: 'info',
      ...TEST_ARGON2,
    };
    const server = await startProcess({
      args: [...args],
      cwd: ROOT,
      env: { ...env, npm_config_update_notifier: 'false' },
      detached: true,
    });
    t.teardown(() => server.stop('SIGKILL'));
    const group = server.child.pid!;

    const signedUp = await signUpOver(server.url, 'ops@example.com');
    t.equal(signedUp.status, 201, 'signed up');
    const { cookie } = signedUp;
    const created = await fetch(`${server.url}/v1/keys`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'production' }),
    });
    const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };

    const load = traffic(server.url, apiKey, 4);
    t.ok(await eventually(() => (load.statuses[200] ?? 0) >= 200, 20_000), 'traffic is flowing');
    const held = requestInFlight(server.url);
    t.ok(
      await eventually(
        () => (server.output().match(/"url":"\/v1\/signup"[^\n]*"incoming request"/g) ?? []).length === 2,
      ),
      'the server has the request in flight',
    );

    const exited = server.stop(signal);
    t.ok(await eventually(() => /shutting down/.test(server.output())), 'the first signal starts the shutdown');
    process.kill(-group, signal);
    t.ok(
      await eventually(() => /already shutting down; signal ignored/.test(server.output())),
      'the second signal reaches the server while it shuts down, and is ignored',
    );
    held.finish();
    t.equal(await held.answered, 201, 'the request in flight was answered');
    const leaderExit = await exited;
    if (exitCode !== null) t.equal(leaderExit, exitCode, `${name} exited ${exitCode}: the server's own exit code`);
    t.ok(await eventually(() => groupGone(group), 15_000), 'every process of the group ended');
    await load.done;
    const log = server.output();
    t.match(log, /"msg":"shut down"/, 'the server finished its shutdown');
    t.notMatch(log, /did not finish in time|shutdown failed/, 'by itself, not by the forced exit');
    t.equal(log.match(/"msg":"shutting down/g)?.length, 1, 'and began shutting down once');
    t.comment(`answers: ${JSON.stringify(load.statuses)}`);

    const restarted = await startServer(env);
    t.teardown(() => restarted.stop('SIGKILL'));
    const keys = await fetch(`${restarted.url}/v1/keys`, { headers: { cookie } });
    const view = ((await keys.json()) as { keys: { id: string; requestsLast24h: number }[] }).keys;
    t.equal(
      view.find((candidate) => candidate.id === key.id)?.requestsLast24h,
      load.statuses[200],
      `after the restart the key's usage counts every request answered 200 (${load.statuses[200]})`,
    );
  });
}
