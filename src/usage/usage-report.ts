import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { keyCallers, keyRejectedCallers } from '../db/schema.js';
import { rowsOf } from '../db/driver-results.js';

export interface UsagePoint {
  start: Date;
  requests: number;
}

export interface Caller {
  clientAddress: string;
  userAgent: string | null;
  requests: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

export interface CallsReport {
  /** Minute buckets, oldest first, zero-filled, ending with the current minute. */
  minutes: UsagePoint[];
  /** Hour buckets, oldest first, zero-filled, ending with the current hour. */
  hours: UsagePoint[];
  /** Distinct clients (address × user agent) seen in the last hour, most recent first. */
  callers: Caller[];
}

/** Calls served with the key, and calls refused because it was revoked or expired. */
export interface KeyUsageReport extends CallsReport {
  rejected: CallsReport;
}

/**
 * Reads usage as the instances flushed it; what is still in memory shows after
 * the next flush. Buckets are UTC minutes and hours, whatever the database's TimeZone.
 */
export class UsageReport {
  constructor(private readonly db: Database) {}

  async forKey(keyId: string, minutes: number, hours: number): Promise<KeyUsageReport> {
    const series = (granularity: 'minute' | 'hour', count: number) =>
      this.db.execute(sql`
        SELECT s AS start, COALESCE(u.requests, 0) AS requests, COALESCE(u.rejected, 0) AS rejected
        FROM generate_series(
          date_trunc(${granularity}, now(), 'UTC') - make_interval(${granularity === 'minute' ? sql`mins` : sql`hours`} => ${count - 1}),
          date_trunc(${granularity}, now(), 'UTC'),
          make_interval(${granularity === 'minute' ? sql`mins` : sql`hours`} => 1)
        ) AS s
        LEFT JOIN key_usage u ON u.key_id = ${keyId} AND u.granularity = ${granularity} AND u.bucket_start = s
        ORDER BY s`);
    const callersOf = (table: typeof keyCallers | typeof keyRejectedCallers) =>
      this.db
        .select({
          clientAddress: table.clientAddress,
          userAgent: table.userAgent,
          requests: table.requests,
          firstSeenAt: table.firstSeenAt,
          lastSeenAt: table.lastSeenAt,
        })
        .from(table)
        .where(and(eq(table.keyId, keyId), gt(table.lastSeenAt, sql`now() - interval '1 hour'`)))
        .orderBy(desc(table.lastSeenAt))
        .limit(100);
    const [minuteRows, hourRows, callers, rejectedCallers] = await Promise.all([
      series('minute', minutes),
      series('hour', hours),
      callersOf(keyCallers),
      callersOf(keyRejectedCallers),
    ]);
    type Row = { start: string | Date; requests: string | number; rejected: string | number };
    const points = (rows: Row[], count: 'requests' | 'rejected') =>
      rows.map((row) => ({ start: new Date(row.start), requests: Number(row[count]) }));
    const callerViews = (rows: Caller[]) => rows.map((caller) => ({ ...caller, userAgent: caller.userAgent || null }));
    const minuteSeries = rowsOf<Row>(minuteRows);
    const hourSeries = rowsOf<Row>(hourRows);
    return {
      minutes: points(minuteSeries, 'requests'),
      hours: points(hourSeries, 'requests'),
      callers: callerViews(callers),
      rejected: {
        minutes: points(minuteSeries, 'rejected'),
        hours: points(hourSeries, 'rejected'),
        callers: callerViews(rejectedCallers),
      },
    };
  }
}
