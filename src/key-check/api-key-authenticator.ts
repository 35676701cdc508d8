import type { FastifyError } from 'fastify';
import { ApiKeyExpired, ApiKeyRevoked, AuthUnavailable, InvalidApiKey, TooManyFailedChecks } from '../http/errors.js';
import type { UsageRecorder } from '../../packages/member/src/usage-recorder.js';
import type { FailureLimiter } from './failure-limiter.js';
import type { KeyCheck, KeyChecker } from './key-checker.js';

export interface ApiKeyIdentity {
  accountId: string;
  keyId: string;
}

/** Why a request was refused: one of keyward's errors (401, 429 with `retryAfterSeconds`, or 503). */
export type ApiKeyRefusal = FastifyError & { retryAfterSeconds?: number };

export type Authentication = ApiKeyIdentity | ApiKeyRefusal;

/** Told of every check's outcome and tier (metrics). */
export interface KeyCheckCounter {
  countCheck(result: KeyCheck): void;
}

/**
 * Decides one request's `x-api-key`, whatever the framework: the key check,
 * the failed-check limiter and usage counting, in the order that keeps valid
 * keys working.
 *
 * The limiter exists to stop guessing and to protect the expensive tiers, so
 * it counts only what could be a guess: an unknown key id or a wrong secret.
 * A malformed key costs nothing and proves nothing (its checksum is public),
 * so it is answered 401 and never counted. A revoked or expired key sent with
 * its right secret is no guess: it is counted as a rejected call of that key
 * (its owner sees it in the key's usage), not as a failure. A limited client
 * is still served for keys whose secret this instance already knows, so a
 * straggler or an attacker behind the same address cannot take a valid key
 * down; everything else it sends gets 429 without any I/O.
 */
export class ApiKeyAuthenticator {
  constructor(
    private readonly checker: KeyChecker,
    private readonly failedChecks: FailureLimiter,
    private readonly usage: UsageRecorder | null,
    private readonly counter?: KeyCheckCounter,
  ) {}

  /**
   * `clientAddress` is the caller's address as the limiter should see it (behind a proxy,
   * the forwarded one); `now` the request's clock reading. A cache hit answers synchronously.
   */
  authenticate(
    headerValue: unknown,
    clientAddress: string,
    userAgent: string | undefined,
    now = Date.now(),
  ): Authentication | Promise<Authentication> {
    const retryAfterMs = this.failedChecks.retryAfterMs(clientAddress, now);
    const result = this.checker.check(headerValue, now, retryAfterMs > 0);
    if (result instanceof Promise) {
      return result.then(
        (settled) => this.decide(settled, clientAddress, userAgent, Date.now(), retryAfterMs),
        () => new AuthUnavailable(),
      );
    }
    return this.decide(result, clientAddress, userAgent, now, retryAfterMs);
  }

  private decide(
    result: KeyCheck,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
    retryAfterMs: number,
  ): Authentication {
    this.counter?.countCheck(result);
    switch (result.outcome) {
      case 'valid':
        this.usage?.record(result.keyId, result.accountId, clientAddress, userAgent, now);
        return { accountId: result.accountId, keyId: result.keyId };
      case 'revoked':
      case 'expired':
        this.usage?.recordRejected(result.keyId, result.accountId, clientAddress, userAgent, now);
        return result.outcome === 'revoked' ? new ApiKeyRevoked() : new ApiKeyExpired();
      case 'unavailable':
        return new AuthUnavailable();
      case 'limited':
        return rateLimited(retryAfterMs);
      case 'invalid':
        if (result.tier === 'format') return new InvalidApiKey();
        if (retryAfterMs > 0) return rateLimited(retryAfterMs);
        this.failedChecks.recordFailure(clientAddress, now);
        return new InvalidApiKey();
      default:
        // Fail closed on anything else (a status read from Redis that this version does not know).
        return new AuthUnavailable();
    }
  }
}

function rateLimited(retryAfterMs: number): ApiKeyRefusal {
  return Object.assign(new TooManyFailedChecks(), { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
}

/** Whether `authenticate` refused the request. */
export function isRefusal(authentication: Authentication): authentication is ApiKeyRefusal {
  return authentication instanceof Error;
}
