import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { keyCallers } from '../db/schema.js';

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

export interface KeyUsageReport {
  /** Minute buckets, oldest first, zero-filled, ending with the current minute. */
  minutes: UsagePoint[];
  /** Hour buckets, oldest first, zero-filled, ending with the current hour. */
  hours: UsagePoint[];
  /** Distinct clients (address × user agent) seen with the key in the last hour, most recent first. */
  callers: Caller[];
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
        SELECT s AS start, COALESCE(u.requests, 0) AS requests
        FROM generate_series(
          date_trunc(${granularity}, now(), 'UTC') - make_interval(${granularity === 'minute' ? sql`mins` : sql`hours`} => ${count - 1}),
          date_trunc(${granularity}, now(), 'UTC'),
          make_interval(${granularity === 'minute' ? sql`mins` : sql`hours`} => 1)
        ) AS s
        LEFT JOIN key_usage u ON u.key_id = ${keyId} AND u.granularity = ${granularity} AND u.bucket_start = s
        ORDER BY s`);
    const [minuteRows, hourRows, callers] = await Promise.all([
      series('minute', minutes),
      series('hour', hours),
      this.db
        .select({
          clientAddress: keyCallers.clientAddress,
          userAgent: keyCallers.userAgent,
          requests: keyCallers.requests,
          firstSeenAt: keyCallers.firstSeenAt,
          lastSeenAt: keyCallers.lastSeenAt,
        })
        .from(keyCallers)
        .where(and(eq(keyCallers.keyId, keyId), gt(keyCallers.lastSeenAt, sql`now() - interval '1 hour'`)))
        .orderBy(desc(keyCallers.lastSeenAt))
        .limit(100),
    ]);
    type Row = { start: string | Date; requests: string | number };
    const points = (rows: Row[]) => rows.map((row) => ({ start: new Date(row.start), requests: Number(row.requests) }));
    return {
      minutes: points(rowsOf<Row>(minuteRows)),
      hours: points(rowsOf<Row>(hourRows)),
      callers: callers.map((caller) => ({ ...caller, userAgent: caller.userAgent || null })),
    };
  }
}

/** postgres.js returns the rows themselves, PGlite an object with `rows`. */
function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows;
}
