/**
 * `keyward`: key checking for the services of a fleet, with no web framework.
 *
 *   const checker = await openApiKeyChecker({ databaseUrl, redisUrl, secret });
 *   const result = await checker.check(headerValue, clientAddress);
 *   if (isKeyRefusal(result)) answer(result.statusCode, result.code); else serve(result.accountId);
 *
 * Adapters: `keyward/fastify` (plugin and decorator), `keyward/express` (middleware).
 * keyward's own server, for embedding: `keyward/server`.
 */
export {
  isKeyRefusal,
  openApiKeyChecker,
  type ApiKeyChecker,
  type ApiKeyIdentity,
  type KeyCheckResult,
  type KeyRefusal,
  type KeyRefusalCode,
} from './library/api-key-checker.js';
export {
  KEY_CHECKING_SETTINGS,
  type KeyCheckerOptions,
  type KeyCheckingSettings,
  type KeywardConnection,
} from './library/connection.js';
export { ApiKeyExpired, ApiKeyRevoked, AuthUnavailable, InvalidApiKey, TooManyFailedChecks } from './errors.js';
export { ConfigError } from './env.js';
export { keyPattern, parseKey, type ParsedKey } from '../packages/member/src/key-format.js';
