/**
 * `keyward/fastify`: the plugin for the fleet's Fastify services.
 *
 *   app.register(apiKeyAuth, { databaseUrl, redisUrl, secret });   // anywhere on the root instance, awaited or not
 *   app.get('/orders', { config: { apiKey: true } }, (request) => request.apiKey.accountId);
 *   app.get('/reports', { onRequest: app.auth([app.verifyApiKey]) }, handler);   // with @fastify/auth
 */
export {
  apiKeyAuth,
  type ApiKeyAuthOptions,
  type RequestAuthenticator,
  type VerifyApiKey,
} from './plugins/api-key-auth.js';
export * from './index.js';
