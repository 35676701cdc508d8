import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { metricsListener } from './metrics/metrics-listener.js';
import { buildApp, LOG_REDACT } from './app/app.js';
import { loadEnv } from './config/env.js';
import { openRuntime } from './app/runtime.js';

/** How long in-flight work may take to finish after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;
/** How often, while shutting down, connections that went idle are closed. */
const IDLE_REAP_INTERVAL_MS = 50;

/**
 * Runs the HTTP server until SIGTERM/SIGINT, then shuts down gracefully:
 * readiness turns 503 (load balancers drain), in-flight requests finish,
 * usage counts are flushed, the instance leaves the fleet, connections close.
 */
export async function serve(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, redact: LOG_REDACT });
  const runtime = await openRuntime(env, log);
  const app = await buildApp(runtime, log);

  const shutdown = async (signal: string) => {
    runtime.shuttingDown = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    setTimeout(() => {
      log.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown did not finish in time; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    // Closing the server waits for every open connection. A keep-alive connection whose request was in flight
    // when closing began stays open after its answer (fastify/fastify#7044): close each once it is idle.
    const reaper = setInterval(() => app.server.closeIdleConnections(), IDLE_REAP_INTERVAL_MS);
    try {
      await app.close();
    } finally {
      clearInterval(reaper);
    }
    await runtime.close();
    log.info('shut down');
    // All counted usage is written and the fleet left; a database driver reconnecting in the background
    // (after an outage) must not keep the process alive.
    process.exit(0);
  };
  // One signal often arrives more than once: Ctrl+C on `npm start` signals the whole process group and tsx
  // relays it again, and systemd (KillMode=control-group) or an orchestrator signals every process of a group.
  // The handler therefore stays registered (with `process.once`, Node's default action for the second signal
  // would end the process mid-shutdown, before usage counts are flushed) and a repeat is only logged: the
  // grace deadline above, or SIGKILL, is the way to end a shutdown early.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (runtime.shuttingDown) {
        log.info({ signal }, 'already shutting down; signal ignored');
        return;
      }
      shutdown(signal).catch((error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
    });
  }

  await app.listen({ port: env.PORT, host: env.HOST });
  if (env.KEYWARD_METRICS_PORT !== undefined) {
    const metricsServer = metricsListener(runtime.metrics, env.KEYWARD_METRICS_TOKEN);
    metricsServer.listen(env.KEYWARD_METRICS_PORT, env.HOST);
    await once(metricsServer, 'listening');
    metricsServer.unref(); // shutdown waits for the API's requests, not for a scrape
    const { port } = metricsServer.address() as AddressInfo;
    log.info({ port }, `metrics listening at http://${env.HOST}:${port}/metrics`);
  }
  announceReady(log, readyUrl(env.HOST, (app.server.address() as AddressInfo).port));
}

/**
 * The URL a person opens: HOST as configured (`localhost` stays a name), `localhost` for "every interface"
 * (0.0.0.0, ::), which no browser opens, and the port actually bound (PORT=0 picks one).
 */
export function readyUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::') return `http://localhost:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/**
 * The line a person waits for. Logged as JSON like every line (log collectors read stdout); on a terminal
 * also written plainly, where it would otherwise drown in JSON.
 */
function announceReady(log: Logger, url: string): void {
  const line = `keyward ready: open ${url} (dashboard and API)`;
  log.info({ url }, line);
  if (process.stdout.isTTY) process.stdout.write(`\n  ${line}\n\n`);
}

export { reportStartupError } from './config/startup-error.js';
