/**
 * The keyward package, for the services of a fleet:
 *
 *   import { apiKeyAuth } from 'keyward';
 *   await app.register(apiKeyAuth, { databaseUrl, redisUrl, secret });
 *   app.get('/orders', { config: { apiKey: true } }, (request) => request.apiKey.accountId);
 */
export {
  apiKeyAuth,
  type ApiKeyAuthConnection,
  type ApiKeyAuthOptions,
  type ApiKeyIdentity,
} from './plugins/api-key-auth.js';
export { keyPattern, parseKey, type ParsedKey } from './keys/key-format.js';
export { buildApp } from './app.js';
export { loadEnv, type Env } from './env.js';
export { openRuntime, type Runtime } from './runtime.js';
