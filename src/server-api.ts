/**
 * `keyward/server`: keyward's own server in your process (it loads everything
 * the server needs: the dashboard, Swagger UI, PGlite in embedded mode).
 *
 *   const runtime = await openRuntime(loadEnv(), logger);
 *   const app = await buildApp(runtime, logger);
 */
export { buildApp, type KeywardApp } from './app/app.js';
export { ConfigError, loadEnv, type Env } from './config/env.js';
export { openRuntime, type Runtime, type RuntimeOptions } from './app/runtime.js';
