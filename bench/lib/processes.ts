import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HttpConnection } from './http-connection.js';
import { isRecord, sleep } from './util.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every process the bench started, so that it can end them (and only them) whatever happens. */
const children = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/**
 * Ends every process the bench started and still running (SIGTERM, then SIGKILL after `graceMs`), e.g. on
 * Ctrl-C before the Redis keys are deleted, so that none writes a key after the cleanup.
 */
export async function stopAllChildren(graceMs = 5000): Promise<void> {
  await Promise.all([...children].map((child) => terminate(child, graceMs)));
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const OUTPUT_TAIL_BYTES = 16 * 1024;

export interface Child {
  process: ChildProcess;
  /** The last few KiB the process wrote, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `node [execArgv] --import tsx <file>` under the repository root. */
export function spawnTsx(
  file: string,
  options: { env?: Record<string, string>; execArgv?: string[]; ipc?: boolean } = {},
): Child {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), '--import', 'tsx', file], {
    cwd: ROOT,
    // Only PATH is inherited, as test/support/server-process.ts does: nothing from the caller's environment leaks in.
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    process: child,
    output: () => output,
    stop: (graceMs = 5000) => terminate(child, graceMs),
  };
}

/**
 * Runs a measuring script that prints its result as one JSON line last, and
 * returns that result; fails with the script's output if it does not.
 */
export async function runJsonScript<T>(
  file: string,
  options: { env?: Record<string, string>; execArgv?: string[]; timeoutMs?: number } = {},
): Promise<T> {
  const child = spawnTsx(file, options);
  const timer = setTimeout(() => void child.stop(), options.timeoutMs ?? 120_000);
  const [code] = (await once(child.process, 'exit')) as [number | null];
  clearTimeout(timer);
  const line = child.output().trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`${file} failed (${code}):\n${child.output()}`);
  return JSON.parse(line) as T;
}

/** Resolves with the first IPC message `accept` returns a value for; rejects if the child exits or time runs out. */
export function waitForMessage<T>(
  child: Child,
  accept: (message: unknown) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      child.process.off('exit', onExit);
    };
    const onMessage = (message: unknown) => {
      const value = accept(message);
      if (value !== undefined) {
        cleanup();
        resolve(value);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before answering:\n${child.output()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer within ${timeoutMs} ms:\n${child.output()}`));
    }, timeoutMs);
    child.process.on('message', onMessage);
    child.process.once('exit', onExit);
  });
}

/**
 * A child that answers requests over IPC: `{ id, ...request }` in, `{ id, result }`
 * or `{ id, error }` out. Used for the load generators.
 */
export class Worker<Request extends object, Result> {
  private nextId = 1;

  private constructor(readonly child: Child) {}

  static async start<Request extends object, Result>(
    file: string,
    execArgv?: string[],
  ): Promise<Worker<Request, Result>> {
    const child = spawnTsx(file, { ipc: true, execArgv });
    await waitForMessage(child, (message) => (isRecord(message) && message.ready === true ? true : undefined), 30_000);
    return new Worker<Request, Result>(child);
  }

  async call(request: Request, timeoutMs: number): Promise<Result> {
    const id = this.nextId++;
    this.child.process.send({ id, ...request });
    const answer = await waitForMessage(
      this.child,
      (message) => (isRecord(message) && message.id === id ? message : undefined),
      timeoutMs,
    );
    if (typeof answer.error === 'string') throw new Error(answer.error);
    return answer.result as Result;
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}

/** A port free right now on 127.0.0.1 (for src/server.ts, which only reports its port in an info log line). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until something answers HTTP on the port (any status). */
export async function waitForHttp(port: number, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null)
      throw new Error(`process exited (${child.process.exitCode}):\n${child.output()}`);
    try {
      const connection = await HttpConnection.open({ port, timeoutMs: 1000 });
      try {
        // An unknown path: answers 404 without touching the key checker or the failed-check limiter.
        await connection.request('GET', '/__bench/ready');
        return;
      } finally {
        connection.close();
      }
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} within ${timeoutMs} ms:\n${child.output()}`);
}

/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc; NaN
 * where /proc is not available. Resolution 10 ms.
 */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
