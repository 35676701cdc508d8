/**
 * Warnings told once across the fleet (issue #26): `key.expiring` (./key-expiring-notices.ts) and
 * `quota.threshold`. Every instance may decide at the same moment that a notice is due; the primary key of
 * lifecycle_notices (kind, subject, period) lets exactly one of them insert its row, and only the statement
 * that inserted it writes the webhook deliveries, in the same statement, so a notice is never told twice
 * nor recorded without being told.
 */
import { desc, eq, sql } from 'drizzle-orm';
import { deliveriesToEndpoints } from '../audit/audit-log.js';
import type { Database, Transaction } from '../db/database.js';
import { rowsOf } from '../db/driver-results.js';
import { lifecycleNotices } from '../db/schema.js';

export type NoticeKind = 'key.expiring' | 'quota.threshold';

export interface Notice {
  /** The webhook event it is told as. */
  kind: NoticeKind;
  /** What it is about: a key id (`key.expiring`), an account id (`quota.threshold`). */
  subject: string;
  /** Which one of the subject's notices of this kind: `7d`, `1d` (key.expiring); e.g. `2026-12:80` (quota). */
  period: string;
  /** The account whose webhook endpoints hear about it. */
  accountId: string;
  /** The event's `data`; `accountId` is added. Never a secret. */
  data: Record<string, string | number | null>;
}

/**
 * Records the notice and, if it is new, writes one webhook delivery per endpoint of its account; true when
 * it was new. One statement: safe to run on every instance at once (exactly one records it and tells it),
 * and inside a caller's transaction, where it is told only if that transaction commits.
 */
export async function noticeOnce(db: Database | Transaction, notice: Notice): Promise<boolean> {
  const data = JSON.stringify({ ...notice.data, accountId: notice.accountId });
  const rows = rowsOf<{ recorded: number }>(
    await db.execute(sql`
      WITH notice AS (
        INSERT INTO lifecycle_notices (kind, subject, period, account_id)
        VALUES (${notice.kind}, ${notice.subject}, ${notice.period}, ${notice.accountId})
        ON CONFLICT DO NOTHING
        RETURNING 1
      ), deliveries AS (
        ${deliveriesToEndpoints(notice.accountId, notice.kind, sql`${data}::jsonb`, sql`EXISTS (SELECT FROM notice)`)}
      )
      SELECT count(*)::int AS recorded FROM notice`),
  );
  return Number(rows[0]?.recorded) === 1;
}

export interface NoticeView {
  kind: NoticeKind;
  subject: string;
  period: string;
  at: Date;
}

/** The account's notices, newest first (for the dashboard and the API). */
export async function recentNotices(db: Database, accountId: string, limit = 50): Promise<NoticeView[]> {
  const rows = await db
    .select({
      kind: lifecycleNotices.kind,
      subject: lifecycleNotices.subject,
      period: lifecycleNotices.period,
      at: lifecycleNotices.createdAt,
    })
    .from(lifecycleNotices)
    .where(eq(lifecycleNotices.accountId, accountId))
    .orderBy(desc(lifecycleNotices.createdAt))
    .limit(limit);
  return rows.map((row) => ({ ...row, kind: row.kind as NoticeKind }));
}
