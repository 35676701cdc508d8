/**
 * Rate limits and monthly quotas, exact across the fleet and free on the hot path.
 *
 * Each limit is a count per fixed window (aligned to the epoch; a quota's window is the UTC calendar month)
 * kept in one place for the whole fleet (keyward's Redis). An instance never asks that count per request: it
 * reserves a batch of requests from it and admits locally until the batch runs low, then reserves the next
 * one in the background. The shared count only ever grows by what was granted and never past the limit, so
 * the fleet admits at most the limit per window; what an instance reserved but did not use (its traffic
 * stopped, the window ended) is the only loss, and batches shrink as the count nears the limit.
 *
 * When reserving fails (Redis or keyward unreachable), an instance admits its share of the limit on its own:
 * the limit divided by the fleet's size when it last heard it. That is never "refuse everything" and never
 * "unlimited", and it is reported (`degraded`).
 */
import { KeyRefusal } from './refusals.js';

/** At most `requests` in each window of `windowSeconds`. */
export interface RateLimit {
  requests: number;
  windowSeconds: number;
}

/** An account's limits, set by the operator: over all its keys together, per window and per calendar month. */
export interface AccountLimits {
  account: RateLimit | null;
  monthlyQuota: number | null;
}

/** What limits one key's requests: its own limit, its account's (all its keys together), the account's monthly quota. */
export interface KeyLimits extends AccountLimits {
  key: RateLimit | null;
}

export const NO_ACCOUNT_LIMITS: AccountLimits = Object.freeze({ account: null, monthlyQuota: null });

export function hasLimits(limits: KeyLimits | null | undefined): limits is KeyLimits {
  return limits != null && (limits.key !== null || limits.account !== null || limits.monthlyQuota !== null);
}

export type CounterKind = 'key' | 'account' | 'quota';

/** One request for budget: add up to `want` to the count `name` unless that passes `limit`. */
export interface BudgetRequest {
  kind: CounterKind;
  /** The count's name for this window, the same on every instance: see {@link counterName}. */
  name: string;
  limit: number;
  want: number;
  /** When the window ends (epoch ms): the count may be forgotten then. */
  resetAt: number;
  /** For a quota: the account it counts (its month's count may have to be rebuilt from usage). */
  accountId: string;
}

export interface BudgetGrant {
  /** How many requests of `want` were granted: 0 when the count had reached its limit. */
  granted: number;
  /** The count after the grant. */
  used: number;
}

/** Where budget is reserved: keyward's Redis (for keyward) or keyward itself (for a member). */
export interface BudgetSource {
  /**
   * Grants for each request, in order, all in one round trip; rejects when the shared count cannot be
   * reached in time (then the limiter falls back to a per-instance share).
   */
  reserve(keyId: string, requests: BudgetRequest[]): Promise<{ grants: BudgetGrant[]; fleetSize: number }>;
}

/** The name of a count in the window that holds `now`, and when that window ends. */
export function counterName(
  kind: CounterKind,
  subject: string,
  limit: RateLimit | 'month',
  now: number,
): { name: string; resetAt: number } {
  if (limit === 'month') {
    const date = new Date(now);
    const month = `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
    return { name: `q:${subject}:${month}`, resetAt: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) };
  }
  const windowMs = limit.windowSeconds * 1000;
  const index = Math.floor(now / windowMs);
  return {
    name: `${kind === 'key' ? 'k' : 'a'}:${subject}:${limit.windowSeconds}:${index}`,
    resetAt: (index + 1) * windowMs,
  };
}

/** The policy name of each kind in the RateLimit fields. */
const POLICY: Record<CounterKind, string> = { key: 'key', account: 'account', quota: 'monthly' };

/** The first moment (epoch ms) of the UTC month holding `now`. */
export function monthStart(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/**
 * The 429 of a limit (`kind`, at most `limit` per `windowSeconds`) reached, to be tried again in
 * `retryAfterSeconds`, with the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
 * `RateLimit-Policy: "key";q=100;w=60` and `RateLimit: "key";r=0;t=12`.
 */
export function limitRefusalOf(
  kind: CounterKind,
  limit: number,
  windowSeconds: number,
  retryAfterSeconds: number,
): KeyRefusal {
  const policy = POLICY[kind];
  return new KeyRefusal(
    kind === 'quota' ? 'KW_QUOTA_EXCEEDED' : 'KW_RATE_LIMITED',
    retryAfterSeconds,
    kind === 'quota'
      ? `This account used its monthly quota of ${limit} requests. It renews at the start of next month (UTC).`
      : `This ${kind === 'key' ? 'API key' : "API key's account"} reached its rate limit of ${limit} requests ` +
          `per ${windowSeconds} s. Retry after the time in the Retry-After header.`,
    { policy: `"${policy}";q=${limit};w=${windowSeconds}`, state: `"${policy}";r=0;t=${retryAfterSeconds}` },
  );
}
