/**
 * `@keyward/member`: key checking for the services of a keyward fleet, with no web framework.
 *
 *   const checker = await openApiKeyChecker({ keywardUrl, credential, redisUrl });
 *   const result = await checker.check(headerValue, clientAddress, userAgent);
 *   if (isKeyRefusal(result)) answer(result.statusCode, refusalEnvelope(result, requestId));
 *   else serve(result.accountId);
 *
 * Adapters: `@keyward/member/fastify` (plugin and decorator), `@keyward/member/express` (middleware).
 */
export {
  isKeyRefusal,
  openApiKeyChecker,
  type ApiKeyChecker,
  type KeyCheckResult,
  type MemberOptions,
} from './api-key-checker.js';
export { hasScopes, missingScopesOf, type ApiKeyIdentity } from './key-restriction.js';
export {
  insufficientScope,
  KeyRefusal,
  refusalEnvelope,
  refusalHeaders,
  type KeyRefusalCode,
  type RateLimitFields,
} from './refusals.js';
export type { KeyLimits, RateLimit } from './rate-limits.js';
export { MemberError, type MemberErrorCode } from './member-error.js';
export type { MemberLog } from './member-log.js';
export { keyPattern, parseKey, type ParsedKey } from './key-format.js';
