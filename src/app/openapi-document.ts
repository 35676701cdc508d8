import { join } from 'node:path';
import pino from 'pino';
import { buildApp } from './app.js';
import { PACKAGE_ROOT } from '../db/database.js';
import { loadEnv } from '../config/env.js';
import { openRuntime } from './runtime.js';

export const OPENAPI_PATH = join(PACKAGE_ROOT, 'openapi', 'openapi.json');

/** The OpenAPI document of the routes, as committed: built on an in-memory database, no services needed. */
export async function generateOpenApiDocument(): Promise<string> {
  const runtime = await openRuntime(loadEnv({ LOG_LEVEL: 'silent' }), pino({ level: 'silent' }), { inMemory: true });
  try {
    const app = await buildApp(runtime);
    await app.ready();
    const document = JSON.stringify(app.swagger(), null, 2) + '\n';
    await app.close();
    return document;
  } finally {
    await runtime.close();
  }
}
