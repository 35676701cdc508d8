/** Webhook endpoints, the outbox of deliveries, and every delivery attempt (issue #14). */
import { sql } from 'drizzle-orm';
import { bigserial, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { accounts, users } from './account-tables.js';
import { createdAt, uuidPrimaryKey, ownedBy, doneBy } from './columns.js';

/**
 * HTTPS endpoints an account registered to hear about its key changes (issue #14). The signing secret must
 * be usable for signing, so it cannot be hashed: it is stored encrypted (AES-256-GCM, key derived from
 * KEYWARD_SECRET; see SigningSecretBox in src/webhooks/signing.ts).
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuidPrimaryKey(),
    accountId: ownedBy('account_id', () => accounts.id),
    url: text('url').notNull(),
    /** `v1.<base64url(iv | ciphertext | tag)>`; the row id is the additional data, so a copied secret fails. */
    secretCiphertext: text('secret_ciphertext').notNull(),
    createdBy: doneBy('created_by', () => users.id),
    createdAt: createdAt(),
  },
  (table) => [index('webhook_endpoints_account_idx').on(table.accountId, table.createdAt)],
);

/**
 * The webhook outbox: one row per (event, endpoint), written in the same transaction as the key change
 * (see src/audit/audit-log.ts), delivered at least once by the worker on every instance. Deleting the
 * endpoint deletes its deliveries, which stops the pending ones.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuidPrimaryKey(),
    endpointId: ownedBy('endpoint_id', () => webhookEndpoints.id),
    accountId: uuid('account_id').notNull(),
    /** The `webhook-id` header: one per event, the same for every endpoint and every retry. */
    messageId: text('message_id').notNull(),
    eventType: text('event_type').notNull(),
    /** The body sent, as JSON (serialised the same way on every attempt). */
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When the next attempt is due; while an attempt runs, the end of the sender's lease on it. */
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: createdAt(),
    /** When it was delivered, or given up (failed). */
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (table) => [
    index('webhook_deliveries_due_idx')
      .on(table.nextAttemptAt)
      .where(sql`${table.status} = 'pending'`),
    index('webhook_deliveries_endpoint_idx').on(table.endpointId, table.createdAt),
    index('webhook_deliveries_ended_idx').on(table.endedAt),
  ],
);

/** Every attempt of a delivery: when, how long, and the receiver's status code or the error. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: ownedBy('delivery_id', () => webhookDeliveries.id),
    attemptedAt: timestamp('attempted_at', { withTimezone: true }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** The receiver's HTTP status; NULL when there was no answer (see error). */
    statusCode: integer('status_code'),
    error: text('error'),
    /** When the next attempt was scheduled; NULL when this was the last one. */
    retryAt: timestamp('retry_at', { withTimezone: true }),
  },
  (table) => [index('webhook_attempts_delivery_idx').on(table.deliveryId, table.id)],
);

/**
 * Warnings told once: a `quota.threshold` per account, month and threshold, a `key.expiring` per key and
 * lead time. Inserting the row (ON CONFLICT DO NOTHING) is what makes it once across the fleet; the webhook
 * deliveries are written in the same transaction.
 */
export const lifecycleNotices = pgTable(
  'lifecycle_notices',
  {
    /** The webhook event type: `quota.threshold` or `key.expiring`. */
    kind: text('kind').notNull(),
    /** What it is about: an account id or a key id. */
    subject: text('subject').notNull(),
    /** Which one: e.g. `2026-12:80` (month and threshold) or `7d` (lead time). */
    period: text('period').notNull(),
    accountId: ownedBy('account_id', () => accounts.id),
    createdAt: createdAt(),
  },
  (table) => [
    primaryKey({ columns: [table.kind, table.subject, table.period] }),
    index('lifecycle_notices_account_idx').on(table.accountId, table.createdAt),
  ],
);
