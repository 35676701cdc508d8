import pino from 'pino';
import { buildApp, LOG_REDACT } from './app.js';
import { ConfigError, loadEnv } from './env.js';
import { openRuntime } from './runtime.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const log = pino({ level: env.LOG_LEVEL, redact: LOG_REDACT });
  const runtime = await openRuntime(env, log);
  const app = await buildApp(runtime, { level: env.LOG_LEVEL, redact: LOG_REDACT });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => process.exit(1), 10_000).unref();
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

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error('keyward failed to start:', error);
  }
  process.exit(1);
});
