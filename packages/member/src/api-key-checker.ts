import { randomBytes } from 'node:crypto';
import { digestsEqual, keyDigest } from './digest.js';
import type { MemberCheckAnswer, MemberJoin, ReserveAnswer, ReserveBody, UsageBatchBody } from './fleet-messages.js';
import { RateLimiter } from './rate-limiter.js';
import type { KeyLimits } from './rate-limits.js';
import { FleetMembership } from './fleet-membership.js';
import type { CacheTrust } from './fleet-lease.js';
import { KeyCache, NO_EPOCH, statusAt, type CachedKey } from './key-cache.js';
import { KEY_ID_LENGTH, keyIdOffset, keyLength, parseKey } from './key-format.js';
import {
  FULL_ACCESS,
  identityOf,
  readAccountLimits,
  readRateLimit,
  restrictionOf,
  usableFrom,
  type ApiKeyIdentity,
} from './key-restriction.js';
import type { KeyStatus } from './key-status.js';
import { KeywardClient } from './keyward-client.js';
import { MemberError } from './member-error.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, validated, type MemberOptions } from './member-options.js';

export type { MemberOptions };
import { STDERR_LOG, type MemberLog } from './member-log.js';
import { KeyRefusal, rateLimited, REFUSED } from './refusals.js';
import { UsageRecorder } from './usage-recorder.js';
import type { MinuteCounts, Tally } from './usage-counts.js';

export type KeyCheckResult = ApiKeyIdentity | KeyRefusal;

/** Whether a check refused the caller. */
export function isKeyRefusal(result: KeyCheckResult): result is KeyRefusal {
  return result instanceof KeyRefusal;
}

/** keyward's key checking for any framework, or none. */
export interface ApiKeyChecker {
  /**
   * Checks an `x-api-key` header value (anything JavaScript hands it: a
   * non-string is refused as an invalid key). `clientAddress` is the caller's
   * address as the failed-check limiter counts it; `userAgent` is counted with
   * the key's usage. A key this process has cached is answered synchronously.
   */
  check(headerValue: unknown, clientAddress?: unknown, userAgent?: unknown): KeyCheckResult | Promise<KeyCheckResult>;
  /** Sends the usage counted so far, leaves the fleet; every later check is refused (503). */
  close(): Promise<void>;
}

/** Longest a reservation of rate-limit budget may take when keyward does not say (1 s). */
const DEFAULT_RATE_LIMIT_TIMEOUT_MS = 1000;
/** An address as the failed-check limiter counts it: printable ASCII, as long as an IPv6 address with a zone can be. */
const ADDRESS_PATTERN = /^[\x21-\x7e]{1,100}$/;
/** Without an address (or with one that is not an address), failures are counted under this name. */
const UNKNOWN_CLIENT = 'unknown';
/** Most client addresses remembered as limited. */
const MAX_LIMITED_CLIENTS = 100_000;
/** A failing cold check is logged at most this often. */
const LOG_EVERY_MS = 10_000;

/** What the in-process cache may be believed under: the fleet lease, or nothing (withoutFleet). */
interface Trust extends CacheTrust {
  close(): Promise<void>;
}

interface ColdAnswer {
  result: KeyCheckResult;
  accountId?: string;
  keyId?: string;
  /** The limits of a valid key's requests. */
  limits?: KeyLimits | null;
}

const NO_TRUST: Trust = { epoch: 0, isTrusted: () => false, close: async () => {} };

/**
 * Opens key checking for a service of the fleet: keys this process has
 * checked are answered from memory (no I/O); any other key is checked by
 * keyward (`POST /v1/fleet/check`, argon2 on keyward's side); revocations are
 * heard through Redis and acknowledged before keyward's revoke call returns.
 * Fails, saying why, when it could not keep that promise: keyward unreachable
 * or refusing the credential, Redis unreachable or refusing the member user.
 */
export async function openApiKeyChecker(options: MemberOptions): Promise<ApiKeyChecker> {
  const { url, timeoutMs } = validated(options);
  const log = options.logger ?? STDERR_LOG;
  const keyward = new KeywardClient(url, options.credential, timeoutMs);
  const join = await keyward.post<MemberJoin>('/v1/fleet/join', {});
  const checker = new MemberKeyChecker(join, keyward, log);
  if (options.withoutFleet) {
    log.warn(
      { keyward: url.origin },
      'keyward member without the fleet: every key is checked with keyward, none is cached (withoutFleet: true)',
    );
    return checker;
  }
  if (join.fleet === null) {
    throw new MemberError(
      'KW_NO_FLEET',
      `keyward at ${url.origin} runs without Redis (single-instance mode): there is no fleet to join. ` +
        'Set REDIS_URL on keyward, or open this member with withoutFleet: true.',
    );
  }
  checker.trust = await FleetMembership.join({
    redisUrl: options.redisUrl!,
    channels: join.fleet,
    memberId: join.memberId,
    instanceId: join.instanceId,
    keyward,
    cache: checker.cache,
    log,
    onCredentialRevoked: () => checker.stop('the member credential was revoked'),
    joinTimeoutMs: Math.max(3 * join.fleet.leaseMs, timeoutMs, 3000),
  });
  return checker;
}

class MemberKeyChecker implements ApiKeyChecker {
  readonly cache: KeyCache<ApiKeyIdentity>;
  trust: Trust = NO_TRUST;
  private readonly usage: UsageRecorder | null;
  /** Keys' and accounts' limits: batches reserved through keyward (`POST /v1/fleet/reserve`). */
  private readonly rateLimits: RateLimiter;
  /** Digests here are under a secret of this process's own: nothing in memory is useful anywhere else. */
  private readonly digestSecret = randomBytes(32).toString('base64');
  private readonly keyLength: number;
  private readonly keyIdStart: number;
  private readonly inFlight = new Map<string, Promise<ColdAnswer>>();
  private readonly limitedUntil = new Map<string, number>();
  private stoppedBecause: string | null = null;
  private lastColdFailureLog = 0;

  constructor(
    private readonly join: MemberJoin,
    private readonly keyward: KeywardClient,
    private readonly log: MemberLog,
  ) {
    // No negative cache (see checkCold): keyward's limiter stops floods of unknown ids.
    this.cache = new KeyCache(join.cache.maxKeys, join.cache.ttlMs, 0);
    this.keyLength = keyLength(join.keyPrefix);
    this.keyIdStart = keyIdOffset(join.keyPrefix);
    let lastFallbackLog = 0;
    this.rateLimits = new RateLimiter({
      source: {
        reserve: (keyId, requests) =>
          keyward.post<ReserveAnswer>('/v1/fleet/reserve', {
            keyId,
            wants: requests.map(({ kind, want }) => ({ kind, want })),
          } satisfies ReserveBody),
      },
      timeoutMs: join.rateLimitTimeoutMs ?? DEFAULT_RATE_LIMIT_TIMEOUT_MS,
      onFallback: (error) => {
        if (Date.now() - lastFallbackLog < LOG_EVERY_MS) return;
        lastFallbackLog = Date.now();
        log.warn({ err: error }, "keyward member: no rate-limit budget from keyward; admitting this process's share");
      },
    });
    this.usage =
      join.usage &&
      new UsageRecorder({
        write: (batchId, minutes) => keyward.post('/v1/fleet/usage', usageBody(batchId, minutes)),
        log,
        flushIntervalMs: join.usage.flushIntervalMs,
        flushTimeoutMs: 2 * DEFAULT_REQUEST_TIMEOUT_MS,
        maxKeysPerMinute: join.usage.maxKeysPerMinute,
        maxCallersPerKey: join.usage.maxCallersPerKey,
      });
  }

  /**
   * The common case first, allocating nothing: a key cached here is looked up
   * by the id at its fixed offset, and the digest match proves the whole
   * string is the key checked when it was cached.
   */
  check(headerValue: unknown, clientAddress?: unknown, userAgent?: unknown): KeyCheckResult | Promise<KeyCheckResult> {
    if (this.stoppedBecause !== null) return REFUSED.unavailable;
    if (typeof headerValue !== 'string' || headerValue.length !== this.keyLength) return REFUSED.invalid;
    const now = Date.now();
    const address = addressOf(clientAddress);
    const agent = typeof userAgent === 'string' ? userAgent : undefined;
    const keyId = headerValue.slice(this.keyIdStart, this.keyIdStart + KEY_ID_LENGTH);
    const entry = this.cache.get(keyId, now);
    if (entry !== undefined) {
      const digest = keyDigest(this.digestSecret, headerValue);
      if (!digestsEqual(entry.digest, digest)) return REFUSED.invalid;
      const status = statusAt(entry, now);
      if (status === 'active' && entry.epoch === this.trust.epoch && this.trust.isTrusted()) {
        if (!usableFrom(entry.restriction, address)) {
          this.usage?.recordRejected(keyId, entry.accountId, address, agent, now);
          return REFUSED.addressNotAllowed;
        }
        const identity = (entry.hit ??= identityOf(entry.accountId, keyId, entry.restriction));
        return this.admit(identity, entry.restriction?.limits, address, agent, now);
      }
      // Revoked and expired are final: they need no lease to be believed.
      if (status !== 'active') return this.refuseKnown(status, keyId, entry.accountId, address, agent, now);
      return this.singleFlight(headerValue, digest, address, agent);
    }
    if (parseKey(headerValue, this.join.keyPrefix) === null) return REFUSED.invalid;
    const digest = keyDigest(this.digestSecret, headerValue);
    const limitedFor = this.limitedMs(address, now);
    if (limitedFor > 0) {
      // A limited client is still served for a key whose secret this process has proven before (it is no
      // guess), so a straggler or an attacker behind the same address cannot take a valid key down.
      const known = this.cache.knownDigest(keyId);
      if (known === undefined || !digestsEqual(known, digest)) {
        return rateLimited(Math.ceil(limitedFor / 1000));
      }
    }
    return this.singleFlight(headerValue, digest, address, agent);
  }

  private refuseKnown(
    status: 'revoked' | 'expired',
    keyId: string,
    accountId: string,
    address: string,
    agent: string | undefined,
    now: number,
  ): KeyRefusal {
    this.usage?.recordRejected(keyId, accountId, address, agent, now);
    return status === 'revoked' ? REFUSED.revoked : REFUSED.expired;
  }

  private limitedMs(address: string, now: number): number {
    if (this.limitedUntil.size === 0) return 0;
    const until = this.limitedUntil.get(address);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.limitedUntil.delete(address);
    return 0;
  }

  /** One cold check per distinct key (and caller) at a time: a burst for a cold key costs keyward one check. */
  private singleFlight(key: string, digest: string, address: string, agent: string | undefined) {
    const flight = `${digest}\u0000${address}`;
    let pending = this.inFlight.get(flight);
    if (pending === undefined) {
      pending = this.checkCold(key, digest, address).finally(() => this.inFlight.delete(flight));
      this.inFlight.set(flight, pending);
    }
    return pending.then(({ result, accountId, keyId, limits }) => {
      if (accountId === undefined || keyId === undefined) return result;
      if (!isKeyRefusal(result)) return this.admit(result, limits, address, agent, Date.now());
      this.usage?.recordRejected(keyId, accountId, address, agent, Date.now());
      return result;
    });
  }

  /** A valid key's request within its limits: counted and served; beyond them: 429, counted as refused. */
  private admit(
    identity: ApiKeyIdentity,
    limits: KeyLimits | null | undefined,
    address: string,
    agent: string | undefined,
    now: number,
  ): KeyCheckResult | Promise<KeyCheckResult> {
    const refusal = limits ? this.rateLimits.admit(identity.keyId, identity.accountId, limits, now) : null;
    if (refusal instanceof Promise)
      return refusal.then((refused) => this.count(identity, refused, address, agent, now));
    return this.count(identity, refusal, address, agent, now);
  }

  /** Counts the request as served or refused (a 429 is a refused call of its key, with its caller). */
  private count(
    identity: ApiKeyIdentity,
    refused: KeyRefusal | null,
    address: string,
    agent: string | undefined,
    now: number,
  ): KeyCheckResult {
    if (refused === null) {
      this.usage?.record(identity.keyId, identity.accountId, address, agent, now);
      return identity;
    }
    this.usage?.recordRejected(identity.keyId, identity.accountId, address, agent, now);
    return refused;
  }

  /** keyward's answer, with the key's account and id when its secret was proven (for usage counts). */
  private async checkCold(key: string, digest: string, address: string): Promise<ColdAnswer> {
    const parsed = parseKey(key, this.join.keyPrefix)!;
    const mark = this.cache.changeMark();
    const epoch = this.trust.epoch;
    const trusted = this.trust.isTrusted();
    let answer: MemberCheckAnswer;
    try {
      const known = this.cache.knownDigest(parsed.keyId);
      const secretProven = known !== undefined && digestsEqual(known, digest);
      answer = await this.keyward.post<MemberCheckAnswer>('/v1/fleet/check', {
        key,
        clientAddress: address,
        secretProven,
      });
    } catch (error) {
      this.logColdFailure(error);
      return { result: REFUSED.unavailable };
    }
    const now = Date.now();
    switch (answer.outcome) {
      case 'invalid':
        // Not remembered as unknown: keyward's 'invalid' is also a wrong secret for a real id, and key ids
        // are public, so a remembered refusal would let anyone take a valid key down on this process.
        return { result: REFUSED.invalid };
      case 'limited':
        this.limit(address, now + answer.retryAfterSeconds * 1000);
        return { result: rateLimited(answer.retryAfterSeconds) };
      case 'valid':
      case 'revoked':
      case 'expired': {
        const status: KeyStatus = answer.outcome === 'valid' ? 'active' : answer.outcome;
        const restriction = restrictionOf(
          {
            ...FULL_ACCESS,
            ...answer.restriction,
            rateLimit: readRateLimit(answer.restriction?.rateLimit ?? null) ?? null,
          },
          readAccountLimits(answer.accountLimits) ?? null,
        );
        const entry: CachedKey<ApiKeyIdentity> = {
          digest,
          accountId: answer.accountId,
          expiresAt: answer.expiresAt,
          status,
          restriction,
          epoch: trusted ? epoch : NO_EPOCH,
          cachedAt: now,
          hit: identityOf(answer.accountId, parsed.keyId, restriction),
        };
        this.cache.set(parsed.keyId, entry, mark);
        const current = statusAt(entry, now);
        const result =
          current === 'revoked'
            ? REFUSED.revoked
            : current === 'expired'
              ? REFUSED.expired
              : !usableFrom(restriction, address)
                ? REFUSED.addressNotAllowed
                : entry.hit!;
        return { result, accountId: answer.accountId, keyId: entry.hit!.keyId, limits: restriction?.limits ?? null };
      }
      default:
        return { result: REFUSED.unavailable }; // an answer this version does not know: fail closed
    }
  }

  private limit(address: string, until: number): void {
    this.limitedUntil.set(address, until);
    if (this.limitedUntil.size > MAX_LIMITED_CLIENTS) this.limitedUntil.delete(this.limitedUntil.keys().next().value!);
  }

  private logColdFailure(error: unknown): void {
    const now = Date.now();
    if (now - this.lastColdFailureLog < LOG_EVERY_MS) return;
    this.lastColdFailureLog = now;
    this.log.error({ err: error }, 'keyward member: a key could not be checked with keyward (answered 503)');
  }

  /** Refuses every check from now on, and says why once. */
  stop(reason: string): void {
    if (this.stoppedBecause !== null) return;
    this.stoppedBecause = reason;
    this.log.error({ reason }, `keyward member stopped: ${reason}; every key is refused (503)`);
    void this.trust.close();
  }

  async close(): Promise<void> {
    if (this.stoppedBecause === 'closed') return;
    this.stoppedBecause = 'closed';
    await this.usage?.close();
    await this.trust.close();
  }
}

function addressOf(clientAddress: unknown): string {
  return typeof clientAddress === 'string' && ADDRESS_PATTERN.test(clientAddress) ? clientAddress : UNKNOWN_CLIENT;
}

/** The recorder's counts as the member API takes them. */
function usageBody(batchId: string, minutes: MinuteCounts[]): UsageBatchBody {
  const tally = ({ requests, last, callers }: Tally) => ({
    requests,
    last,
    callers: [...callers.values()].flatMap((byAgent) => [...byAgent.values()]),
  });
  return {
    batchId,
    minutes: minutes.map(({ minute, keys }) => ({
      minute,
      keys: [...keys].map(([keyId, counts]) => ({
        keyId,
        accepted: tally(counts.accepted),
        rejected: tally(counts.rejected),
      })),
    })),
  };
}
