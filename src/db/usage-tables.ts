/** Request counts per key and time bucket, the callers of each key, and the usage flushes that wrote them. */
import { bigint, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * Requests per key per time bucket: minute buckets for the last hours, hour
 * buckets for the last days. Instances add their in-memory counts with an
 * upsert, so concurrent flushes from a fleet sum exactly.
 */
export const keyUsage = pgTable(
  'key_usage',
  {
    keyId: text('key_id').notNull(),
    accountId: uuid('account_id').notNull(),
    granularity: text('granularity', { enum: ['minute', 'hour'] }).notNull(),
    bucketStart: timestamp('bucket_start', { withTimezone: true }).notNull(),
    requests: bigint('requests', { mode: 'number' }).notNull(),
    /** Requests refused because the key was revoked or expired. */
    rejected: bigint('rejected', { mode: 'number' }).notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.keyId, table.granularity, table.bucketStart] }),
    index('key_usage_account_idx').on(table.accountId, table.granularity, table.bucketStart),
    index('key_usage_bucket_idx').on(table.granularity, table.bucketStart),
  ],
);

/** One row per (key, client address, user agent), with when it was first and last seen. */
const callerColumns = () => ({
  keyId: text('key_id').notNull(),
  accountId: uuid('account_id').notNull(),
  clientAddress: text('client_address').notNull(),
  /** Empty when the client sent none. */
  userAgent: text('user_agent').notNull(),
  firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
  requests: bigint('requests', { mode: 'number' }).notNull(),
});

/** Who calls with a key and is served. */
export const keyCallers = pgTable('key_callers', callerColumns(), (table) => [
  primaryKey({ columns: [table.keyId, table.clientAddress, table.userAgent] }),
  index('key_callers_seen_idx').on(table.lastSeenAt),
]);

/**
 * Who still calls with a key after it was revoked or expired (and is
 * refused): the services a rotation forgot. A table of its own, not a column
 * of key_callers, so instances of the previous release keep flushing during
 * a rolling upgrade.
 */
export const keyRejectedCallers = pgTable('key_rejected_callers', callerColumns(), (table) => [
  primaryKey({ columns: [table.keyId, table.clientAddress, table.userAgent] }),
  index('key_rejected_callers_seen_idx').on(table.lastSeenAt),
]);

/**
 * One row per usage flush that committed, written in the flush's own
 * transaction: a flush retried after its COMMIT's answer was lost finds its
 * id here and adds nothing twice.
 */
export const usageFlushes = pgTable(
  'usage_flushes',
  {
    id: uuid('id').primaryKey(),
    flushedAt: timestamp('flushed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('usage_flushes_flushed_idx').on(table.flushedAt)],
);
