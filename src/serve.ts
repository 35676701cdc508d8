import pino from 'pino';
import { buildApp, LOG_REDACT } from './app.js';
import { ConfigError, loadEnv } from './env.js';
import { openRuntime } from './runtime.js';

/** How long in-flight work may take to finish after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs the HTTP server until SIGTERM/SIGINT, then shuts down gracefully:
 * readiness turns 503 (load balancers drain), in-flight requests finish,
 * usage counts are flushed, the instance leaves the fleet, connections close.
 */
export async function serve(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, redact: LOG_REDACT });
  const runtime = await openRuntime(env, log);
  const app = await buildApp(runtime, { level: env.LOG_LEVEL, redact: LOG_REDACT });

  const shutdown = async (signal: string) => {
    if (runtime.shuttingDown) return;
    runtime.shuttingDown = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    try {
      await app.close();
      await runtime.close();
    } finally {
      clearTimeout(force);
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: env.PORT, host: env.HOST });
}

/** Start-up failures in one readable line (a configuration problem needs no stack trace). */
export function reportStartupError(error: unknown): never {
  console.error(error instanceof ConfigError ? error.message : `keyward failed to start: ${String(error)}`);
  process.exit(1);
}
