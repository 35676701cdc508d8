import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { buildTestApp } from './app.js';
import { TEST_ARGON2 } from './services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs the keyward command (`src/cli.ts`) as a real process; its stdout and stderr as one text, decoded as
 * `encoding` (`latin1` shows every byte a terminal would receive).
 */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  encoding: BufferEncoding = 'utf8',
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString(encoding)));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString(encoding)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, output };
}

/** An app and the environment that points the command at the same database, Redis prefix and secret. */
export async function appWithCliEnv(t: Test) {
  const secret = randomBytes(32).toString('base64url');
  const built = await buildTestApp(t, { env: { KEYWARD_SECRET: secret } });
  const env = {
    ...TEST_ARGON2,
    DATABASE_URL: built.runtime.env.DATABASE_URL!,
    REDIS_URL: built.runtime.env.REDIS_URL!,
    REDIS_KEY_PREFIX: built.runtime.env.REDIS_KEY_PREFIX,
    KEYWARD_SECRET: secret,
  };
  return { ...built, env };
}
