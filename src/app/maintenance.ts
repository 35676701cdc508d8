import { sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import type { KeyService } from '../keys/key-lifecycle.js';
import { affectedRows } from '../db/driver-results.js';
import { sendKeyExpiringNotices } from '../webhooks/key-expiring-notices.js';

export interface Retention {
  usageMinuteHours: number;
  usageDays: number;
  auditDays: number;
  /** Deliveries that ended (delivered or failed), with their attempts. */
  webhookDays: number;
}

/** Published key events are only needed by the relay; a week covers any outage worth relaying. */
const KEY_EVENT_RETENTION_DAYS = 7;
/**
 * A usage flush retried later than this after its COMMIT's answer was lost
 * could count twice; an instance retries within seconds of Postgres coming back.
 */
const USAGE_FLUSH_ID_RETENTION_HOURS = 24;
/** Rows deleted per statement, so pruning never holds long locks. */
const BATCH = 5000;

/**
 * Periodic upkeep on every instance: end keys whose scheduled expiry passed,
 * tell keys about to expire (`key.expiring`) and prune what retention no
 * longer keeps. Every step is safe to run on all instances at once: expiries
 * are ended under the account's row lock, a notice is told by the instance
 * that records it first, and deleting a row another instance deleted first
 * deletes nothing.
 */
export class Maintenance {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly keys: KeyService,
    private readonly retention: Retention,
    private readonly log: FastifyBaseLogger,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => {
      this.running = this.runOnce().catch((error: unknown) => log.warn({ err: error }, 'maintenance failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** One pass; returns what it did. */
  async runOnce(): Promise<{ expiredKeys: number; expiringNotices: number; pruned: Record<string, number> }> {
    const expiredKeys = await this.keys.endExpiredKeys();
    const expiringNotices = await sendKeyExpiringNotices(this.db);
    const { usageMinuteHours, usageDays, auditDays, webhookDays } = this.retention;
    const pruned = {
      usageMinutes: await this.prune(
        'key_usage',
        sql`granularity = 'minute' AND bucket_start < now() - make_interval(hours => ${usageMinuteHours})`,
      ),
      usageHours: await this.prune(
        'key_usage',
        sql`granularity = 'hour' AND bucket_start < now() - make_interval(days => ${usageDays})`,
      ),
      callers: await this.prune('key_callers', sql`last_seen_at < now() - make_interval(days => ${usageDays})`),
      rejectedCallers: await this.prune(
        'key_rejected_callers',
        sql`last_seen_at < now() - make_interval(days => ${usageDays})`,
      ),
      auditEvents: await this.prune('audit_events', sql`created_at < now() - make_interval(days => ${auditDays})`),
      usageFlushIds: await this.prune(
        'usage_flushes',
        sql`flushed_at < now() - make_interval(hours => ${USAGE_FLUSH_ID_RETENTION_HOURS})`,
      ),
      sessions: await this.prune('sessions', sql`expires_at < now()`),
      // Their attempts go with them (ON DELETE CASCADE).
      webhookDeliveries: await this.prune(
        'webhook_deliveries',
        sql`ended_at < now() - make_interval(days => ${webhookDays})`,
      ),
      keyEvents: await this.prune(
        'key_events',
        sql`published_at IS NOT NULL AND created_at < now() - make_interval(days => ${KEY_EVENT_RETENTION_DAYS})`,
      ),
    };
    if (expiredKeys > 0 || expiringNotices > 0 || Object.values(pruned).some((count) => count > 0)) {
      this.log.info({ expiredKeys, expiringNotices, pruned }, 'maintenance');
    }
    return { expiredKeys, expiringNotices, pruned };
  }

  private async prune(table: string, condition: SQL): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.db.execute(sql`
        DELETE FROM ${sql.identifier(table)} WHERE ctid IN (
          SELECT ctid FROM ${sql.identifier(table)} WHERE ${condition} LIMIT ${BATCH}
        )`);
      const count = affectedRows(result);
      total += count;
      if (count < BATCH) return total;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
