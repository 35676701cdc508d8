/**
 * What an account sees of its limits (GET /v1/limits): its rate limit and monthly quota, and how much of each
 * window the fleet has used, read from the same counts the instances reserve their batches from.
 */
import { and, eq, isNotNull } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { isActiveKey } from '../keys/key-state.js';
import { LimitCountsUnavailable } from '../http/errors.js';
import { usageSince, type FleetBudgets } from './budget-sources.js';
import {
  counterName,
  type AccountLimits,
  type CounterKind,
  type RateLimit,
} from '../../packages/member/src/rate-limits.js';

export interface LimitWindow {
  used: number;
  limit: number;
  windowSeconds: number;
  resetAt: string;
}

export interface MonthUse {
  used: number;
  quota: number;
  resetAt: string;
}

export interface KeyLimitUse {
  keyId: string;
  rateLimit: RateLimit;
  used: number;
  resetAt: string;
}

export interface LimitsSnapshot {
  account: { rateLimit: RateLimit | null; monthlyQuota: number | null };
  window: LimitWindow | null;
  month: MonthUse | null;
  keys: KeyLimitUse[];
}

/** One count to read: which window of which limit. */
interface Reading {
  kind: CounterKind;
  subject: string;
  limit: RateLimit | 'month';
}

export class LimitsView {
  constructor(
    private readonly db: Database,
    private readonly budgets: FleetBudgets,
    private readonly accountLimits: (accountId: string) => Promise<AccountLimits>,
  ) {}

  async read(accountId: string, now = Date.now()): Promise<LimitsSnapshot> {
    const [limits, keys] = await Promise.all([this.accountLimits(accountId), this.keysWithLimits(accountId)]);
    const readings: Reading[] = keys.map((key) => ({ kind: 'key', subject: key.keyId, limit: key.rateLimit }));
    if (limits.account !== null) readings.push({ kind: 'account', subject: accountId, limit: limits.account });
    if (limits.monthlyQuota !== null) readings.push({ kind: 'quota', subject: accountId, limit: 'month' });
    const windows = readings.map((reading) => counterName(reading.kind, reading.subject, reading.limit, now));
    const counts = await this.peek(windows.map((window) => window.name));

    const keyUses = keys.map((key, index) => ({
      ...key,
      used: counts[index]!,
      resetAt: new Date(windows[index]!.resetAt).toISOString(),
    }));
    let next = keys.length;
    let window: LimitWindow | null = null;
    if (limits.account !== null) {
      const index = next++;
      window = {
        used: counts[index]!,
        limit: limits.account.requests,
        windowSeconds: limits.account.windowSeconds,
        resetAt: new Date(windows[index]!.resetAt).toISOString(),
      };
    }
    let month: MonthUse | null = null;
    if (limits.monthlyQuota !== null) {
      const index = next++;
      const { resetAt } = windows[index]!;
      // A reservation always leaves a count above 0; 0 is a month no instance reserved from yet, or a count
      // Redis lost (a restart): then the month's flushed usage is the best answer, as a reservation would rebuild it.
      const used = counts[index]! > 0 ? counts[index]! : await usageSince(this.db, accountId, monthStartOf(now));
      month = { used, quota: limits.monthlyQuota, resetAt: new Date(resetAt).toISOString() };
    }
    return {
      account: { rateLimit: limits.account, monthlyQuota: limits.monthlyQuota },
      window,
      month,
      keys: keyUses,
    };
  }

  private async peek(names: string[]): Promise<number[]> {
    try {
      return await this.budgets.peek(names);
    } catch {
      throw new LimitCountsUnavailable();
    }
  }

  /** The account's active keys with a rate limit of their own, oldest first. */
  private async keysWithLimits(accountId: string): Promise<Array<{ keyId: string; rateLimit: RateLimit }>> {
    const rows = await this.db
      .select({
        keyId: apiKeys.id,
        requests: apiKeys.rateLimitRequests,
        windowSeconds: apiKeys.rateLimitWindowSeconds,
      })
      .from(apiKeys)
      .where(and(eq(apiKeys.accountId, accountId), isActiveKey, isNotNull(apiKeys.rateLimitRequests)))
      .orderBy(apiKeys.createdAt, apiKeys.id);
    return rows.flatMap(({ keyId, requests, windowSeconds }) =>
      requests === null || windowSeconds === null ? [] : [{ keyId, rateLimit: { requests, windowSeconds } }],
    );
  }
}

function monthStartOf(now: number): Date {
  const date = new Date(now);
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}
