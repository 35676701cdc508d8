import { performance } from 'node:perf_hooks';
import { eq } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { accountPlans, apiKeys } from '../db/schema.js';
import { restrictionOfRow } from '../keys/restriction-rules.js';
import { accountLimitsOf, planColumns } from '../rate-limits/account-plans.js';
import { NO_ACCOUNT_LIMITS, type AccountLimits, type KeyLimits } from '../../packages/member/src/rate-limits.js';
import {
  detached,
  KEY_ID_LENGTH,
  keyIdOffset,
  keyLength,
  parseKey,
  type ParsedKey,
} from '../../packages/member/src/key-format.js';
import type { SecretHasher } from '../keys/secret-hashing.js';
import { digestsEqual, fromSharedDigest, keyDigest, sharedDigest } from '../../packages/member/src/digest.js';
import type { FleetSync, HotEntry } from '../fleet/fleet-sync.js';
import { NO_EPOCH, statusAt, type CachedKey, type KeyCache } from '../../packages/member/src/key-cache.js';
import { keyStatus } from '../keys/key-state.js';
import {
  identityOf,
  restrictionFromText,
  restrictionOf,
  restrictionText,
  type ApiKeyIdentity,
  type CompiledRestriction,
} from '../../packages/member/src/key-restriction.js';
import { settleWithin, TIMED_OUT } from '../../packages/member/src/timeouts.js';

export type KeyCheck =
  /** The secret is proven: the key is this account's, and active, revoked or expired. */
  | {
      outcome: 'valid' | 'revoked' | 'expired';
      accountId: string;
      keyId: string;
      /** Epoch ms of a scheduled expiry, or null. */
      expiresAt: number | null;
      /** Its scopes, networks and metadata; null: none. */
      restriction: CompiledRestriction | null;
      /** Who a valid key identifies, as the request sees it. */
      identity: ApiKeyIdentity;
      tier: CheckTier;
    }
  | { outcome: 'invalid'; tier: CheckTier }
  /** The key could not be checked (Postgres unreachable, argon2 queue full): answer 503, never 401 or 200. */
  | { outcome: 'unavailable'; tier: CheckTier }
  /** Not checked: only keys whose secret this instance already knows are checked for a limited caller. */
  | { outcome: 'limited'; tier: CheckTier };

type KeyRow = Parameters<typeof restrictionOfRow>[0] &
  Parameters<typeof accountLimitsOf>[0] & {
    accountId: string;
    secretHash: string;
    expiresAt: Date | null;
    revokedAt: Date | null;
  };

/** Where the answer came from: in-process cache, Redis, Postgres (+argon2), or the format alone. */
export type CheckTier = 'format' | 'memory' | 'redis' | 'postgres';

export interface KeyCheckerOptions {
  db: Database;
  hasher: SecretHasher;
  cache: KeyCache;
  fleet: FleetSync;
  serverSecret: string;
  keyPrefix: string;
  databaseTimeoutMs: number;
  /** The limits of an account without a plan (KEYWARD_ACCOUNT_*); default none. */
  accountDefaults?: AccountLimits;
  /** Told how long each check that left the process took. */
  observer?: ColdCheckObserver;
}

/** Told how long each check that left the process took (metrics). */
export interface ColdCheckObserver {
  coldCheck(tier: CheckTier, seconds: number): void;
}

/** The answer for a key whose secret is proven. */
function provenCheck(
  entry: Pick<CachedKey, 'status' | 'expiresAt' | 'accountId' | 'restriction'>,
  keyId: string,
  now: number,
  tier: CheckTier,
): KeyCheck {
  const status = statusAt(entry, now);
  return {
    outcome: status === 'active' ? 'valid' : status,
    accountId: entry.accountId,
    keyId,
    expiresAt: entry.expiresAt,
    restriction: entry.restriction,
    identity: identityOf(entry.accountId, keyId, entry.restriction),
    tier,
  };
}

// Answers that name no key are shared: a refusal allocates nothing.
const INVALID_FORMAT: KeyCheck = Object.freeze({ outcome: 'invalid', tier: 'format' });
const INVALID_IN_MEMORY: KeyCheck = Object.freeze({ outcome: 'invalid', tier: 'memory' });
const LIMITED: KeyCheck = Object.freeze({ outcome: 'limited', tier: 'memory' });

/**
 * Decides whether an `x-api-key` value is a valid, active key, cheapest tier
 * first: format and checksum (no I/O) → in-process cache → Redis hot set →
 * Postgres and argon2id. A cache hit is answered synchronously.
 */
export class KeyChecker {
  private readonly inFlight = new Map<string, Promise<KeyCheck>>();

  private readonly keyLength: number;
  private readonly keyIdStart: number;
  private readonly keyIdEnd: number;

  constructor(private readonly options: KeyCheckerOptions) {
    this.keyLength = keyLength(options.keyPrefix);
    this.keyIdStart = keyIdOffset(options.keyPrefix);
    this.keyIdEnd = this.keyIdStart + KEY_ID_LENGTH;
  }

  get cache(): KeyCache {
    return this.options.cache;
  }

  get fleet(): FleetSync {
    return this.options.fleet;
  }

  /**
   * `now`: the caller's clock reading for this request, when it has one already.
   * `knownSecretsOnly`: the caller is limited, so nothing that could be a guess
   * is checked: only a key whose digest this instance holds (even past its TTL)
   * goes on to Redis or Postgres (no argon2 needed); anything else is `limited`.
   *
   * The common case comes first and allocates nothing: a key cached here is
   * looked up by the id at its fixed offset, and the digest match proves the
   * whole string is the key that was parsed and checked when it was cached,
   * so its shape and checksum need no second look.
   */
  check(headerValue: unknown, now = Date.now(), knownSecretsOnly = false): KeyCheck | Promise<KeyCheck> {
    if (typeof headerValue !== 'string' || headerValue.length !== this.keyLength) return INVALID_FORMAT;
    const { cache, fleet } = this.options;
    const keyId = headerValue.slice(this.keyIdStart, this.keyIdEnd);
    const entry = cache.get(keyId, now);
    if (entry === undefined) return this.checkUncached(headerValue, now, knownSecretsOnly);
    const digest = keyDigest(this.options.serverSecret, headerValue);
    // A known id with another secret is wrong whatever the lease says: the id has one key.
    if (!digestsEqual(entry.digest, digest)) {
      return parseKey(headerValue, this.options.keyPrefix) === null ? INVALID_FORMAT : INVALID_IN_MEMORY;
    }
    const status = statusAt(entry, now);
    if (status === 'active' && entry.epoch === fleet.trust.epoch && fleet.trust.isTrusted()) {
      return (entry.hit ??= Object.freeze({
        outcome: 'valid',
        accountId: entry.accountId,
        keyId: detached(keyId),
        expiresAt: entry.expiresAt,
        restriction: entry.restriction,
        identity: identityOf(entry.accountId, keyId, entry.restriction),
        tier: 'memory',
      }));
    }
    // Revoked and expired are final: they need no lease to be believed.
    if (status !== 'active') {
      return provenCheck(entry, keyId, now, 'memory');
    }
    return this.singleFlight({ keyId, fullKey: headerValue }, digest);
  }

  private checkUncached(headerValue: string, now: number, knownSecretsOnly: boolean): KeyCheck | Promise<KeyCheck> {
    const parsed = parseKey(headerValue, this.options.keyPrefix);
    if (parsed === null) return INVALID_FORMAT;
    const { cache } = this.options;
    if (cache.isUnknown(parsed.keyId, now)) return INVALID_IN_MEMORY;
    const known = knownSecretsOnly ? cache.knownDigest(parsed.keyId) : undefined;
    // A limited caller's id this instance never cached: refused before the digest is even computed.
    if (knownSecretsOnly && known === undefined) return LIMITED;
    const digest = keyDigest(this.options.serverSecret, headerValue);
    if (known !== undefined && !digestsEqual(known, digest)) return LIMITED;
    return this.singleFlight(parsed, digest);
  }

  /** One cold check per distinct key at a time: a burst for a cold key costs one argon2. */
  private singleFlight(parsed: ParsedKey, digest: string): Promise<KeyCheck> {
    let pending = this.inFlight.get(digest);
    if (pending === undefined) {
      const startedAt = performance.now();
      pending = this.checkCold(parsed, digest).finally(() => this.inFlight.delete(digest));
      pending.then(
        (result) => this.options.observer?.coldCheck(result.tier, (performance.now() - startedAt) / 1000),
        () => {}, // the caller handles the failure
      );
      this.inFlight.set(digest, pending);
    }
    return pending;
  }

  /** A key's row with its account's plan, as the cold tier reads it. */
  private selectKey(keyId: string): Promise<KeyRow[]> {
    return this.options.db
      .select({
        accountId: apiKeys.accountId,
        secretHash: apiKeys.secretHash,
        expiresAt: apiKeys.expiresAt,
        revokedAt: apiKeys.revokedAt,
        scopes: apiKeys.scopes,
        allowedNetworks: apiKeys.allowedNetworks,
        metadata: apiKeys.metadata,
        rateLimitRequests: apiKeys.rateLimitRequests,
        rateLimitWindowSeconds: apiKeys.rateLimitWindowSeconds,
        ...planColumns,
      })
      .from(apiKeys)
      .leftJoin(accountPlans, eq(accountPlans.accountId, apiKeys.accountId))
      .where(eq(apiKeys.id, keyId));
  }

  /**
   * A key's account and the limits its requests count against, as this instance knows them now: from its
   * cache while the fleet's lease vouches for the entry, else from Postgres. null: no such key.
   */
  async limitsOf(keyId: string): Promise<{ accountId: string; limits: KeyLimits | null } | null> {
    const { cache, fleet } = this.options;
    const entry = cache.get(keyId, Date.now());
    if (entry !== undefined && entry.epoch === fleet.trust.epoch && fleet.trust.isTrusted()) {
      return { accountId: entry.accountId, limits: entry.restriction?.limits ?? null };
    }
    const [row] = await this.selectKey(keyId);
    if (row === undefined) return null;
    const restriction = restrictionOf(
      restrictionOfRow(row),
      accountLimitsOf(row, this.options.accountDefaults ?? NO_ACCOUNT_LIMITS),
    );
    return { accountId: row.accountId, limits: restriction?.limits ?? null };
  }

  private async checkCold(parsed: ParsedKey, digest: string): Promise<KeyCheck> {
    const { cache, fleet } = this.options;
    const mark = cache.changeMark();
    const epoch = fleet.trust.epoch;
    const trusted = fleet.trust.isTrusted();
    const remember = (entry: Omit<CachedKey, 'epoch' | 'cachedAt'>) =>
      cache.set(parsed.keyId, { ...entry, epoch: trusted ? epoch : NO_EPOCH, cachedAt: Date.now() }, mark);

    // Redis only while we hear its events; otherwise it may be partitioned from the fleet.
    const hot = trusted && fleet.hotStore ? await fleet.hotStore.lookup(parsed.keyId) : null;
    const hotRestriction = restrictionFromText(hot?.entry?.r);
    if (hot?.entry && hotRestriction !== undefined) {
      const entry = {
        digest: fromSharedDigest(hot.entry.d),
        accountId: hot.entry.a,
        expiresAt: hot.entry.e ?? null,
        status: hot.entry.s,
        restriction: hotRestriction,
      };
      remember(entry);
      if (!digestsEqual(entry.digest, digest)) return { outcome: 'invalid', tier: 'redis' };
      return provenCheck(entry, parsed.keyId, Date.now(), 'redis');
    }

    let row: KeyRow | undefined;
    try {
      const rows = await settleWithin(this.selectKey(parsed.keyId), this.options.databaseTimeoutMs);
      if (rows === TIMED_OUT) return { outcome: 'unavailable', tier: 'postgres' };
      [row] = rows;
    } catch {
      return { outcome: 'unavailable', tier: 'postgres' };
    }
    if (row === undefined) {
      cache.markUnknown(parsed.keyId, Date.now(), mark);
      return { outcome: 'invalid', tier: 'postgres' };
    }

    // The L1 digest already proves the secret when we only lacked the lease or it aged out: no argon2 then.
    const known = cache.knownDigest(parsed.keyId);
    let secretMatches = known !== undefined && digestsEqual(known, digest);
    if (!secretMatches) {
      try {
        const hash = row.secretHash;
        // Ahead of every account operation waiting for argon2; a full queue answers 503 auth_unavailable.
        secretMatches = await this.options.hasher.verify(hash, parsed.fullKey, 'key-check');
      } catch {
        return { outcome: 'unavailable', tier: 'postgres' };
      }
    }
    if (!secretMatches) return { outcome: 'invalid', tier: 'postgres' };

    const entry = {
      digest,
      accountId: row.accountId,
      expiresAt: row.expiresAt?.getTime() ?? null,
      status: keyStatus(row),
      restriction: restrictionOf(
        restrictionOfRow(row),
        accountLimitsOf(row, this.options.accountDefaults ?? NO_ACCOUNT_LIMITS),
      ),
    };
    remember(entry);
    if (trusted && fleet.hotStore && hot) {
      const hotEntry: HotEntry = { d: sharedDigest(digest), a: entry.accountId, s: entry.status };
      if (entry.expiresAt !== null) hotEntry.e = entry.expiresAt;
      const restriction = restrictionText(entry.restriction);
      if (restriction !== undefined) hotEntry.r = restriction;
      void fleet.hotStore.fill(parsed.keyId, hotEntry, hot.generation);
    }
    return provenCheck(entry, parsed.keyId, Date.now(), 'postgres');
  }
}
