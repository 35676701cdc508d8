import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { createRedisPrefix, createTestDatabase, TEST_SETTINGS } from './services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * How long a server may take to start before the test gives up: a bound for a hung start, not a speed
 * check (one start took 24 s on a 2-core machine that two other test runs kept busy).
 */
const START_TIMEOUT_MS = 90_000;

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `src/server.ts` as a real process, as `npm start` does, on a free port. */
export function startServer(env: Record<string, string>, timeoutMs = START_TIMEOUT_MS): Promise<ServerProcess> {
  return startProcess({ args: ['--import', 'tsx', 'src/server.ts'], cwd: ROOT, env, timeoutMs });
}

/**
 * Starts `node <args>` in `cwd` with PORT=0 and HOST=127.0.0.1 (plus `env`), and
 * resolves once it prints Fastify's "Server listening at <url>" line.
 */
export async function startProcess(options: {
  args: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
  /**
   * Starts the process as the leader of a process group of its own; `stop()` then signals the whole group,
   * as a terminal's Ctrl+C, systemd (KillMode=control-group) or an orchestrator does.
   */
  detached?: boolean;
}): Promise<ServerProcess> {
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      options.timeoutMs ?? START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      if (options.detached) process.kill(-child.pid!, signal);
      else child.kill(signal);
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

/** npm's own command line, to run `npm start` as a user does (npm → node, no shell of the test's). */
export const NPM_CLI = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');

/** Whether no process of the group led by `pid` is left. */
export function groupGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Runs the server expecting it to refuse to start; returns its exit code and output. */
export async function runFailingServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, output };
}

/**
 * Settings for keyward processes on a fresh database and Redis prefix with a secret of their own: one
 * process, or several sharing them (a fleet of processes); `env` adds or overrides settings.
 */
export async function keywardProcessEnv(t: Test, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const databaseUrl = await createTestDatabase(t);
  const { redisUrl, prefix } = await createRedisPrefix(t);
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEYWARD_SECRET: randomBytes(32).toString('base64url'),
    ...TEST_SETTINGS,
    ...env,
  };
}

/**
 * keyward as `npm start` runs it (a real process), with keywardProcessEnv's settings.
 * Stopped at the end of the test, before its database is dropped.
 */
export async function startKeywardProcess(
  t: Test,
  env: Record<string, string> = {},
): Promise<ServerProcess & { env: Record<string, string> }> {
  const serverEnv = await keywardProcessEnv(t, env);
  const server = await startServer(serverEnv);
  // Teardowns run last-registered first: the server stops before its database is dropped.
  t.teardown(() => server.stop('SIGKILL'));
  return { ...server, env: serverEnv };
}
