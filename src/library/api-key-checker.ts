import pino from 'pino';
import { createAuthenticator, openCore } from '../core.js';
import { isRefusal, type Authentication } from '../key-check/api-key-authenticator.js';
import { connectionEnv, type KeyCheckerOptions } from './connection.js';

/**
 * The caller a valid key identifies. (Declared here, not imported from the authenticator, so that the
 * package's public types stay free of keyward's internals and of drizzle's types.)
 */
export interface ApiKeyIdentity {
  accountId: string;
  keyId: string;
}

/** Every way a check refuses a caller, as the `code` of its {@link KeyRefusal}. */
export type KeyRefusalCode =
  'KW_INVALID_API_KEY' | 'KW_API_KEY_REVOKED' | 'KW_API_KEY_EXPIRED' | 'KW_RATE_LIMITED' | 'KW_AUTH_UNAVAILABLE';

/** A refused check: one of keyward's error classes (exported), with its HTTP status. */
export interface KeyRefusal extends Error {
  code: KeyRefusalCode;
  /** 401 (no valid key), 429 (too many failed checks: see `retryAfterSeconds`) or 503 (cannot check now). */
  statusCode: 401 | 429 | 503;
  /** With 429: when the client may try again, for a `Retry-After` header. */
  retryAfterSeconds?: number;
}

export type KeyCheckResult = ApiKeyIdentity | KeyRefusal;

/** Whether a check refused the caller. */
export function isKeyRefusal(result: KeyCheckResult): result is KeyRefusal {
  return result instanceof Error;
}

/** keyward's key checking for any framework, or none. */
export interface ApiKeyChecker {
  /**
   * Checks an `x-api-key` header value. `clientAddress` is the caller's address as
   * the failed-check limiter should count it (behind a proxy, the forwarded one);
   * without it every caller shares one count. A key this process has cached is
   * answered synchronously; anything else returns a promise.
   */
  check(headerValue: unknown, clientAddress?: string, userAgent?: string): KeyCheckResult | Promise<KeyCheckResult>;
  /** Flushes usage counts, leaves the fleet (revocations stop waiting for it), closes Redis and Postgres. */
  close(): Promise<void>;
}

/** Without an address, failures are counted under this one name. */
const UNKNOWN_CLIENT = 'unknown';

function asResult(authentication: Authentication): KeyCheckResult {
  // Every refusal the authenticator makes is one of the five KeyRefusalCode errors, with its status.
  return isRefusal(authentication) ? (authentication as KeyRefusal) : authentication;
}

/**
 * Opens key checking once per process: the same tiers as keyward itself
 * (in-process cache, Redis hot set, Postgres and argon2), and a member of the
 * fleet's registry, so a revoke call on keyward returns only once this process
 * refuses the key too.
 */
export async function openApiKeyChecker(options: KeyCheckerOptions): Promise<ApiKeyChecker> {
  const env = connectionEnv(options);
  const log = options.logger ?? pino({ name: 'keyward', level: 'warn' }, pino.destination(2));
  const core = await openCore(env, log, { serverSecret: options.secret });
  const authenticator = createAuthenticator(core.keyChecking);
  return {
    check(headerValue, clientAddress = UNKNOWN_CLIENT, userAgent) {
      const result = authenticator.authenticate(headerValue, clientAddress, userAgent);
      return result instanceof Promise ? result.then(asResult) : asResult(result);
    },
    close: () => core.close(),
  };
}
