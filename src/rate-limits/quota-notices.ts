/**
 * `quota.threshold`: an account's webhooks hear when its keys have used 80 % and 100 % of its monthly quota,
 * once each per month across the fleet (lifecycle_notices makes it once; this process only avoids asking
 * again what it already told).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import { noticeOnce } from '../webhooks/lifecycle-notices.js';
import type { BudgetGrant, BudgetRequest } from '../../packages/member/src/rate-limits.js';

export const QUOTA_THRESHOLDS = [80, 100] as const;

/** Told of every budget granted; sends a quota's threshold notices as its count passes them. */
export function quotaThresholdNotices(db: Database, log: FastifyBaseLogger) {
  const told = new Set<string>();
  return (request: BudgetRequest, grant: BudgetGrant): void => {
    if (request.kind !== 'quota' || grant.used < 0) return;
    const month = request.name.slice(request.name.lastIndexOf(':') + 1);
    for (const threshold of QUOTA_THRESHOLDS) {
      if (grant.used * 100 < request.limit * threshold) continue;
      const period = `${month}:${threshold}`;
      const id = `${request.accountId}:${period}`;
      if (told.has(id)) continue;
      told.add(id);
      if (told.size > 100_000) told.clear();
      noticeOnce(db, {
        kind: 'quota.threshold',
        subject: request.accountId,
        period,
        accountId: request.accountId,
        data: { threshold, used: Math.min(grant.used, request.limit), quota: request.limit, month },
      }).catch((error: unknown) => {
        told.delete(id); // told by the next grant
        log.warn({ err: error }, 'quota.threshold notice could not be recorded');
      });
    }
  };
}
