/**
 * The limiter each instance (keyward's, and every member) runs: the batches of packages/member/src/rate-limits.ts
 * reserved from the fleet's counts and admitted from memory, and the per-instance share when reserving fails.
 */
import { KeyRefusal } from './refusals.js';
import { settleWithin, TIMED_OUT } from './timeouts.js';
import {
  counterName,
  limitRefusalOf,
  monthStart,
  type BudgetGrant,
  type BudgetRequest,
  type BudgetSource,
  type CounterKind,
  type KeyLimits,
  type RateLimit,
} from './rate-limits.js';

/** The largest batch one reservation asks for. */
export const MAX_RESERVATION = 1000;
/** A batch should last about this long at the rate the counter was used. */
const BATCH_HORIZON_MS = 200;
/** How long after the last fallback the limiter still reports itself degraded. */
const DEGRADED_FOR_MS = 30_000;

/** One count as this instance sees it: what it may still admit of its reservations, in the current window. */
class LocalCount {
  name = '';
  resetAt = 0;
  limit = 0;
  /** The window's length, for the RateLimit-Policy field (a quota: this month's). */
  windowSeconds = 0;
  /** Reserved and not yet admitted. */
  tokens = 0;
  /** The shared count reached the limit in this window: refuse until it ends. */
  exhausted = false;
  /** Admitted here in this window (the fallback share is counted against it). */
  admitted = 0;
  /** While reserving fails: what is left of this instance's own share of the window; null: not falling back. */
  shareLeft: number | null = null;
  /** The count after the last grant, as the source said. */
  lastUsed = 0;
  lastGrant = 0;
  lastGrantAt = 0;
  refill: Promise<void> | null = null;
  refusal: KeyRefusal | null = null;

  constructor(
    readonly kind: CounterKind,
    readonly subject: string,
    readonly accountId: string,
  ) {}

  /** Moves to the window holding `now` (and to `limit`): a new window or limit forgets what was reserved. */
  roll(limit: RateLimit | number, now: number): void {
    const requests = typeof limit === 'number' ? limit : limit.requests;
    if (now < this.resetAt && requests === this.limit) return;
    if (now >= this.resetAt) {
      const { name, resetAt } = counterName(this.kind, this.subject, typeof limit === 'number' ? 'month' : limit, now);
      this.name = name;
      this.windowSeconds =
        typeof limit === 'number' ? Math.round((resetAt - monthStart(now)) / 1000) : limit.windowSeconds;
      this.resetAt = resetAt;
      this.admitted = 0;
      this.lastUsed = 0;
      this.shareLeft = null;
    }
    this.limit = requests;
    this.tokens = 0;
    this.exhausted = false;
    this.refusal = null;
  }

  /**
   * How many to ask for: enough for about BATCH_HORIZON_MS at the rate the last batch went, and never less
   * than a hundredth of the limit (up to 8), so a slow key far from its limit does not ask once per request.
   */
  want(now: number): number {
    const least = Math.max(1, Math.min(8, Math.floor(this.limit / 100)));
    if (this.lastGrantAt === 0) return least;
    const used = this.lastGrant - this.tokens;
    const rate = used / Math.max(1, now - this.lastGrantAt);
    return Math.max(least, Math.min(MAX_RESERVATION, this.limit, Math.ceil(rate * BATCH_HORIZON_MS)));
  }
}

export interface RateLimiterOptions {
  source: BudgetSource;
  /** Longest a reservation may take before this instance falls back to its share. */
  timeoutMs: number;
  /** Told once each time reserving fails and this instance admits its share alone. */
  onFallback?: (error: unknown) => void;
  /** Told of every grant (quota thresholds, metrics). */
  onGrant?: (request: BudgetRequest, grant: BudgetGrant) => void;
}

/** Admitted: nothing to say. */
const ADMITTED = null;

/**
 * Admits or refuses requests of keys with limits. `admit` answers synchronously while every count the key
 * is under holds reserved budget here (the common case far from the limit), and with a promise while one is
 * being reserved.
 */
export class RateLimiter {
  /** Per kind: key id → its count, account id → its account's count and its quota's. */
  private readonly counts: Record<CounterKind, Map<string, LocalCount>> = {
    key: new Map(),
    account: new Map(),
    quota: new Map(),
  };
  private fleetSize = 1;
  private lastFallbackAt = -Infinity;
  /** Round trips to the source so far (each one script in Redis): for metrics and benchmarks. */
  reservations = 0;

  constructor(private readonly options: RateLimiterOptions) {}

  /** null when admitted; otherwise the 429 to answer. */
  admit(
    keyId: string,
    accountId: string,
    limits: KeyLimits,
    now: number,
  ): KeyRefusal | null | Promise<KeyRefusal | null> {
    const key = limits.key === null ? null : this.count('key', keyId, accountId, limits.key, now);
    const account = limits.account === null ? null : this.count('account', accountId, accountId, limits.account, now);
    const quota =
      limits.monthlyQuota === null ? null : this.count('quota', accountId, accountId, limits.monthlyQuota, now);
    const refused = this.refusedBy(key, now) ?? this.refusedBy(quota, now) ?? this.refusedBy(account, now);
    if (refused !== null) return refused;
    if (
      (key === null || key.tokens > 0) &&
      (account === null || account.tokens > 0) &&
      (quota === null || quota.tokens > 0)
    ) {
      this.take(keyId, key, now);
      this.take(keyId, account, now);
      this.take(keyId, quota, now);
      return ADMITTED;
    }
    const empty = [key, account, quota].filter((count): count is LocalCount => count !== null && count.tokens <= 0);
    // Asked again once the budget arrived: another request may have taken it first, and then this one waits
    // for the next batch, until the count itself is exhausted.
    return this.refill(keyId, empty, now).then(() => this.admit(keyId, accountId, limits, Date.now()));
  }

  /** Reserves budget from the source for someone else (a member's batch), within the same time. */
  async reserve(keyId: string, requests: BudgetRequest[]): Promise<{ grants: BudgetGrant[]; fleetSize: number }> {
    const reserved = await this.reserveFromSource(keyId, requests);
    requests.forEach((request, index) => this.options.onGrant?.(request, reserved.grants[index]!));
    return reserved;
  }

  /** One round trip to the source, counted; rejected when it takes longer than the timeout. */
  private async reserveFromSource(keyId: string, requests: BudgetRequest[]) {
    this.reservations++;
    const reserved = await settleWithin(this.options.source.reserve(keyId, requests), this.options.timeoutMs);
    if (reserved === TIMED_OUT) throw new Error(`no budget granted within ${this.options.timeoutMs} ms`);
    return reserved;
  }

  /** Whether this instance is admitting on its own share (reserving failed lately). */
  get degraded(): boolean {
    return Date.now() - this.lastFallbackAt < DEGRADED_FOR_MS;
  }

  private count(kind: CounterKind, subject: string, accountId: string, limit: RateLimit | number, now: number) {
    const counts = this.counts[kind];
    let count = counts.get(subject);
    if (count === undefined) {
      if (counts.size >= MAX_COUNTS) forgetEnded(counts, now);
      count = new LocalCount(kind, subject, accountId);
      counts.set(subject, count);
    }
    count.roll(limit, now);
    return count;
  }

  private refusedBy(count: LocalCount | null, now: number): KeyRefusal | null {
    // What this instance holds is admitted still: it was counted when reserved.
    if (count === null || !count.exhausted || count.tokens > 0) return null;
    const retryAfterSeconds = Math.max(1, Math.ceil((count.resetAt - now) / 1000));
    if (count.refusal === null || count.refusal.retryAfterSeconds !== retryAfterSeconds) {
      count.refusal = limitRefusal(count, retryAfterSeconds);
    }
    return count.refusal;
  }

  private take(keyId: string, count: LocalCount | null, now: number): void {
    if (count === null) return;
    count.tokens--;
    count.admitted++;
    // Reserve the next batch before this one runs out, so the hot path does not wait for it.
    if (count.refill === null && count.tokens <= count.lastGrant / 4 && !count.exhausted) {
      void this.refill(keyId, [count], now);
    }
  }

  /** Reserves budget for `counts` in one round trip; on failure, gives each its per-instance share. */
  private refill(keyId: string, counts: LocalCount[], now: number): Promise<void> {
    const pending = counts.filter((count) => count.refill !== null).map((count) => count.refill!);
    const asking = counts.filter((count) => count.refill === null);
    if (asking.length > 0) {
      const requests = asking.map((count) => ({
        kind: count.kind,
        name: count.name,
        limit: count.limit,
        want: count.want(now),
        resetAt: count.resetAt,
        accountId: count.accountId,
      }));
      const done = this.reserveFromSource(keyId, requests)
        .then(({ grants, fleetSize }) => {
          this.fleetSize = Math.max(1, fleetSize);
          asking.forEach((count, index) => {
            const grant = grants[index];
            if (grant === undefined || count.name !== requests[index]!.name) return; // the window moved on
            count.tokens += grant.granted;
            count.lastGrant = count.tokens;
            count.lastGrantAt = Date.now();
            count.lastUsed = grant.used;
            count.shareLeft = null;
            if (grant.granted === 0) count.exhausted = true;
            this.options.onGrant?.(requests[index]!, grant);
          });
        })
        .catch((error: unknown) => {
          this.lastFallbackAt = Date.now();
          this.options.onFallback?.(error);
          asking.forEach((count, index) => {
            if (count.name === requests[index]!.name) this.fallBack(count, requests[index]!.want);
          });
        })
        .finally(() => {
          for (const count of asking) count.refill = null;
        });
      for (const count of asking) count.refill = done;
      pending.push(done);
    }
    return Promise.all(pending).then(() => undefined);
  }

  /**
   * This instance's share for the rest of the window: the limit divided by the fleet's size (a quota: what
   * was left of it when last heard), less what it admitted already. Refused once that is used up.
   */
  private fallBack(count: LocalCount, want: number): void {
    if (count.shareLeft === null) {
      const left = count.kind === 'quota' ? Math.max(0, count.limit - count.lastUsed) : count.limit;
      const share = Math.max(1, Math.floor(left / this.fleetSize));
      count.shareLeft = Math.max(0, share - (count.kind === 'quota' ? 0 : count.admitted));
    }
    // In batches, as from Redis: each next batch tries Redis first, so limits are shared again once it is back.
    const tokens = Math.min(count.shareLeft, want);
    count.shareLeft -= tokens;
    count.tokens += tokens;
    count.lastGrant = count.tokens;
    count.lastGrantAt = Date.now();
    count.exhausted = count.tokens === 0;
  }
}

/** Counts kept per kind before those whose window ended are forgotten (one per key or account with a limit). */
const MAX_COUNTS = 100_000;

/** Forgets the counts whose window ended: nothing reserved in them can be used any more. */
function forgetEnded(counts: Map<string, LocalCount>, now: number): void {
  for (const [subject, count] of counts) if (count.resetAt <= now && count.refill === null) counts.delete(subject);
}

/** The 429 of a count that reached its limit, made once per count and wait. */
function limitRefusal(count: LocalCount, retryAfterSeconds: number): KeyRefusal {
  return Object.freeze(limitRefusalOf(count.kind, count.limit, count.windowSeconds, retryAfterSeconds));
}
