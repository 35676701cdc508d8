import { performance } from 'node:perf_hooks';
import type { BenchServerConfig, BenchServerStats } from '../servers/bench-server.js';
import { HttpConnection } from './http-connection.js';
import { freePort, spawnTsx, waitForHttp, waitForMessage, type Child } from './processes.js';
import { isRecord } from './util.js';

export interface RunningServer {
  name: string;
  port: number;
  url: string;
  child: Child;
  startMs: number;
  stop(): Promise<void>;
}

export interface BenchServer extends RunningServer {
  stats(): Promise<BenchServerStats>;
}

/** One server configuration: one process. */
export interface ServerSpec {
  name: string;
  /** keyward settings passed to the plugin. */
  settings?: Record<string, string>;
  /** Default: the main bench database. */
  databaseUrl?: string;
  /** The Redis sub-prefix (fleet) it joins; default: its own, named after it. */
  fleet?: string;
  /** Also serves the peers' routes (bench/peers/), when they are installed. */
  peers?: true;
}

/**
 * The bench servers of a run, one process per configuration, started on
 * first need (several at once in parallel) and stopped when no longer needed.
 */
export class ServerPool {
  private readonly running = new Map<string, Promise<BenchServer>>();

  constructor(private readonly configOf: (spec: ServerSpec) => BenchServerConfig) {}

  /** Starts, in parallel, those of `specs` not already running. */
  async start(...specs: ServerSpec[]): Promise<BenchServer[]> {
    for (const spec of specs) {
      if (!this.running.has(spec.name)) this.running.set(spec.name, startBenchServer(spec.name, this.configOf(spec)));
    }
    return Promise.all(specs.map((spec) => this.running.get(spec.name)!));
  }

  async stop(...names: string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const server = this.running.get(name);
        this.running.delete(name);
        await server?.then((started) => started.stop()).catch(() => {});
      }),
    );
  }

  stopAll(): Promise<void> {
    return this.stop(...this.running.keys());
  }
}

/** Starts bench/servers/bench-server.ts (Fastify + keyward's apiKeyAuth plugin) and waits until it listens. */
export async function startBenchServer(name: string, config: BenchServerConfig): Promise<BenchServer> {
  const started = performance.now();
  const child = spawnTsx('bench/servers/bench-server.ts', {
    env: { BENCH_SERVER_CONFIG: JSON.stringify(config) },
    ipc: true,
  });
  const port = await waitForMessage(
    child,
    (message) => (isRecord(message) && typeof message.ready === 'number' ? message.ready : undefined),
    60_000,
  );
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    startMs: performance.now() - started,
    stop: () => child.stop(),
    async stats() {
      const connection = await HttpConnection.open({ port });
      try {
        const response = await connection.request('GET', '/__bench/stats');
        return JSON.parse(response.body) as BenchServerStats;
      } finally {
        connection.close();
      }
    },
  };
}

/**
 * Starts keyward itself (src/server.ts via `node --import tsx`, as
 * test/support/server-process.ts does) on a free port. LOG_LEVEL=warn keeps
 * per-request logging off the measurement; readiness is polled over HTTP.
 */
export async function startKeyward(name: string, env: Record<string, string>): Promise<RunningServer> {
  const started = performance.now();
  // A port can be taken between freePort() and listen(); try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnTsx('src/server.ts', {
      env: { LOG_LEVEL: 'warn', ...env, HOST: '127.0.0.1', PORT: String(port) },
    });
    try {
      await waitForHttp(port, child, 60_000);
    } catch (error) {
      await child.stop();
      if (attempt >= 3) throw error;
      continue;
    }
    return {
      name,
      port,
      url: `http://127.0.0.1:${port}`,
      child,
      startMs: performance.now() - started,
      stop: () => child.stop(),
    };
  }
}
