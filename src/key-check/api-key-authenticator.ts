import type { KeyCheckResult } from '../../packages/member/src/api-key-checker.js';
import { usableFrom } from '../../packages/member/src/key-restriction.js';
import { rateLimited, REFUSED, type KeyRefusal } from '../../packages/member/src/refusals.js';
import type { RateLimiter } from '../../packages/member/src/rate-limiter.js';
import type { UsageRecorder } from '../../packages/member/src/usage-recorder.js';
import type { FailureLimiter } from './failure-limiter.js';
import type { KeyCheck, KeyChecker } from './key-checker.js';

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
    private readonly rateLimits?: RateLimiter,
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
  ): KeyCheckResult | Promise<KeyCheckResult> {
    const retryAfterMs = this.failedChecks.retryAfterMs(clientAddress, now);
    const result = this.checker.check(headerValue, now, retryAfterMs > 0);
    if (result instanceof Promise) {
      return result.then(
        (settled) => this.decide(settled, clientAddress, userAgent, Date.now(), retryAfterMs),
        () => REFUSED.unavailable as KeyCheckResult,
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
  ): KeyCheckResult | Promise<KeyCheckResult> {
    this.counter?.countCheck(result);
    switch (result.outcome) {
      case 'valid':
        // The owner's key from outside its networks: refused, and counted as a rejected call of that key.
        if (!usableFrom(result.restriction, clientAddress)) {
          this.usage?.recordRejected(result.keyId, result.accountId, clientAddress, userAgent, now);
          return REFUSED.addressNotAllowed;
        }
        return this.admit(result, clientAddress, userAgent, now);
      case 'revoked':
      case 'expired':
        this.usage?.recordRejected(result.keyId, result.accountId, clientAddress, userAgent, now);
        return result.outcome === 'revoked' ? REFUSED.revoked : REFUSED.expired;
      case 'unavailable':
        return REFUSED.unavailable;
      case 'limited':
        return rateLimited(Math.ceil(retryAfterMs / 1000));
      case 'invalid':
        if (result.tier === 'format') return REFUSED.invalid;
        if (retryAfterMs > 0) return rateLimited(Math.ceil(retryAfterMs / 1000));
        this.failedChecks.recordFailure(clientAddress, now);
        return REFUSED.invalid;
      default:
        // Fail closed on anything else (a status read from Redis that this version does not know).
        return REFUSED.unavailable;
    }
  }

  /** A valid key's request within its limits: counted and served; beyond them: 429, counted as refused. */
  private admit(
    result: Extract<KeyCheck, { identity: unknown }>,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
  ): KeyCheckResult | Promise<KeyCheckResult> {
    const limits = result.restriction?.limits;
    const refusal =
      limits && this.rateLimits ? this.rateLimits.admit(result.keyId, result.accountId, limits, now) : null;
    if (refusal instanceof Promise) {
      return refusal.then((refused) => this.count(result, refused, clientAddress, userAgent, now));
    }
    return this.count(result, refusal, clientAddress, userAgent, now);
  }

  /** Counts the request as served or refused (a 429 is a refused call of its key, with its caller). */
  private count(
    result: Extract<KeyCheck, { identity: unknown }>,
    refused: KeyRefusal | null,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
  ): KeyCheckResult {
    if (refused === null) {
      this.usage?.record(result.keyId, result.accountId, clientAddress, userAgent, now);
      return result.identity;
    }
    this.usage?.recordRejected(result.keyId, result.accountId, clientAddress, userAgent, now);
    return refused;
  }
}
