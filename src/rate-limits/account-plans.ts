/**
 * Accounts' limits: the deployment's defaults (KEYWARD_ACCOUNT_*), an account's plan set by the operator
 * (`keyward set-plan`), and the rule that a key's own limit may be lower than its account's, never higher.
 */
import { and, eq, isNotNull } from 'drizzle-orm';
import type { Env } from '../config/env.js';
import type { Database } from '../db/database.js';
import { accountPlans, apiKeys } from '../db/schema.js';
import type { KeyEvent, KeyEventAnnouncer } from '../fleet/fleet-sync.js';
import { RateLimitAboveAccount } from '../http/errors.js';
import { recordEvent } from '../keys/key-statements.js';
import type { AccountLimits, RateLimit } from '../../packages/member/src/rate-limits.js';

/** The deployment's limits for an account without a plan. */
export function defaultAccountLimits(env: Env): AccountLimits {
  return {
    account:
      env.KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS === undefined
        ? null
        : {
            requests: env.KEYWARD_ACCOUNT_RATE_LIMIT_REQUESTS,
            windowSeconds: env.KEYWARD_ACCOUNT_RATE_LIMIT_WINDOW_SECONDS,
          },
    monthlyQuota: env.KEYWARD_ACCOUNT_MONTHLY_QUOTA ?? null,
  };
}

/** The plan columns to read with a key (left-joined: all NULL without a plan). */
export const planColumns = {
  planAccountId: accountPlans.accountId,
  planRequests: accountPlans.rateLimitRequests,
  planWindowSeconds: accountPlans.rateLimitWindowSeconds,
  planMonthlyQuota: accountPlans.monthlyQuota,
};

/** An account's limits from its plan columns (read with {@link planColumns}), or the defaults without a plan. */
export function accountLimitsOf(
  row: {
    planAccountId: string | null;
    planRequests: number | null;
    planWindowSeconds: number | null;
    planMonthlyQuota: number | null;
  },
  defaults: AccountLimits,
): AccountLimits {
  if (row.planAccountId === null) return defaults;
  return {
    account:
      row.planRequests === null || row.planWindowSeconds === null
        ? null
        : { requests: row.planRequests, windowSeconds: row.planWindowSeconds },
    monthlyQuota: row.planMonthlyQuota,
  };
}

/** An account's limits, read alone (the API's view, and the key rule below). */
export async function readAccountLimits(
  db: Database,
  accountId: string,
  defaults: AccountLimits,
): Promise<AccountLimits> {
  const [row] = await db.select(planColumns).from(accountPlans).where(eq(accountPlans.accountId, accountId));
  return row === undefined ? defaults : accountLimitsOf(row, defaults);
}

/** 400 when a key's own limit would allow more requests per second than its account's. */
export function checkKeyRateLimit(rateLimit: RateLimit | null | undefined, account: AccountLimits): void {
  if (!rateLimit || account.account === null) return;
  const { requests, windowSeconds } = account.account;
  if (rateLimit.requests * windowSeconds > requests * rateLimit.windowSeconds) {
    throw new RateLimitAboveAccount(
      `rateLimit: ${rateLimit.requests} per ${rateLimit.windowSeconds} s is above this account's limit of ` +
        `${requests} per ${windowSeconds} s. A key's limit may be lower than its account's, not higher.`,
    );
  }
}

/** A plan as the operator sets it; `null` fields: no such limit for this account. */
export interface AccountPlan {
  rateLimit: RateLimit | null;
  monthlyQuota: number | null;
}

/**
 * Sets (or, with `null`, removes: back to the defaults) an account's plan, and tells every instance before
 * it returns: each active key of the account gets an `updated` key event in the same transaction, so every
 * cache reads the key again with its new limits.
 */
export async function setAccountPlan(
  db: Database,
  announcer: KeyEventAnnouncer,
  accountId: string,
  plan: AccountPlan | null,
): Promise<{ keysUpdated: number }> {
  const events: KeyEvent[] = await db.transaction(async (tx) => {
    if (plan === null) {
      await tx.delete(accountPlans).where(eq(accountPlans.accountId, accountId));
    } else {
      const values = {
        rateLimitRequests: plan.rateLimit?.requests ?? null,
        rateLimitWindowSeconds: plan.rateLimit?.windowSeconds ?? null,
        monthlyQuota: plan.monthlyQuota,
        updatedAt: new Date(),
      };
      await tx
        .insert(accountPlans)
        .values({ accountId, ...values })
        .onConflictDoUpdate({ target: accountPlans.accountId, set: values });
    }
    const active = await tx
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.accountId, accountId), isNotNull(apiKeys.slot)));
    return Promise.all(active.map((key) => recordEvent(tx, accountId, key.id, 'updated', null)));
  });
  if (events.length > 0) await announcer.announce(events);
  return { keysUpdated: events.length };
}
