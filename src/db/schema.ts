import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  check,
  integer,
  index,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { slotCheck } from '../keys/active-key-slots.js';

/** User agents are client-chosen text: audit events and key callers keep this much of one, what identifies a client. */
export const MAX_USER_AGENT_LENGTH = 200;

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const accounts = pgTable('accounts', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  createdAt: createdAt(),
});

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** Stored lower-cased; unique across the deployment. */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    createdAt: createdAt(),
  },
  (table) => [uniqueIndex('users_email_key').on(table.email), index('users_account_idx').on(table.accountId)],
);

export const sessions = pgTable(
  'sessions',
  {
    /** SHA-256 of the cookie's token: a database leak yields no usable session. */
    tokenHash: text('token_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (table) => [index('sessions_user_idx').on(table.userId), index('sessions_expires_idx').on(table.expiresAt)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    /** The public key id, also the lookup id embedded in the key itself. */
    id: text('id').primaryKey(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** argon2id PHC string of the full key; the key itself is never stored. */
    secretHash: text('secret_hash').notNull(),
    /** What the dashboard shows: prefix, id and the last 4 characters (`kw_<id>_…abcd`). */
    hint: text('hint').notNull(),
    /**
     * One of ACTIVE_SLOTS while the key is active, NULL once it is revoked or expired. The unique index on
     * (account_id, slot) and the slot check are what enforce src/keys/active-key-slots.ts in the database.
     */
    slot: smallint('slot'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedBy: uuid('revoked_by').references(() => users.id, { onDelete: 'set null' }),
    /** Latest request seen with the key, as of the last usage flush of any instance. */
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    /** Latest request refused because the key was revoked or expired, as of the last usage flush. */
    lastRejectedAt: timestamp('last_rejected_at', { withTimezone: true }),
    /**
     * The key this one was generated to replace (set by rotate), so the dashboard tells a rotation from two
     * unrelated keys. Not a foreign key: keys are never deleted, and the id alone is what the API shows.
     */
    replacesKeyId: text('replaces_key_id'),
    /**
     * Why the key was revoked: `revoked` on request (dashboard, API, CLI), `leaked` by a secret scanning
     * report. NULL while not revoked, and for keys revoked before this column existed (read as `revoked`).
     */
    revocationReason: text('revocation_reason', { enum: ['revoked', 'leaked'] }),
    /**
     * The first report that the key was found in public (GitHub secret scanning): when, where (a URL, possibly
     * empty) and in what (GitHub's `source`, e.g. `commit`). Kept in the row, not only in the audit log, so
     * the dashboard can still say why the key ended after the audit retention has pruned the event.
     */
    leakedAt: timestamp('leaked_at', { withTimezone: true }),
    leakUrl: text('leak_url'),
    leakSource: text('leak_source'),
  },
  (table) => [
    uniqueIndex('api_keys_active_slot_key').on(table.accountId, table.slot),
    index('api_keys_account_idx').on(table.accountId, table.createdAt),
    check('api_keys_slot_check', slotCheck(table.slot)),
    check('api_keys_ended_has_no_slot', sql`${table.revokedAt} IS NULL OR ${table.slot} IS NULL`),
  ],
);

/**
 * Append-only log of changes that caches must hear about: a key revoked,
 * expired, or given an expiry (rotation), in commit order. Written in the
 * same transaction as the change. `published_at` stays NULL until the event
 * reached Redis; any instance relays events left unpublished (outbox).
 */
export const keyEvents = pgTable(
  'key_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    keyId: text('key_id').notNull(),
    accountId: uuid('account_id').notNull(),
    kind: text('kind', { enum: ['revoked', 'expired', 'expiry_scheduled'] }).notNull(),
    /** The key's expiry after this change (expiry_scheduled, expired). */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: createdAt(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
  },
  (table) => [
    index('key_events_unpublished_idx')
      .on(table.seq)
      .where(sql`${table.publishedAt} IS NULL`),
    index('key_events_key_idx').on(table.keyId),
  ],
);

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

/**
 * Every change and sign-in, written in the same transaction as the change it
 * records: no change can exist without its record.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** NULL for a failed sign-in with an email no account has. */
    accountId: uuid('account_id').references(() => accounts.id, { onDelete: 'cascade' }),
    /** NULL for the system (an expiry taking effect) and failed sign-ins. */
    actorUserId: uuid('actor_user_id').references(() => users.id, { onDelete: 'set null' }),
    /** Kept when the user is gone, so the record still says who. */
    actorEmail: text('actor_email'),
    action: text('action', {
      enum: [
        'account.created',
        'session.created',
        'session.failed',
        'session.ended',
        'key.created',
        'key.rotated',
        'key.revoked',
        'key.expired',
        'key.expiry_scheduled',
        'key.renamed',
        'password.changed',
        'session.others_ended',
        // Recorded by the secret-scanning endpoint (issue #14) beside the key.revoked of a leaked key.
        'key.leaked',
        'webhook.created',
        'webhook.deleted',
      ],
    }).notNull(),
    keyId: text('key_id'),
    clientAddress: text('client_address'),
    userAgent: text('user_agent'),
    details: jsonb('details').$type<Record<string, string | number | null>>(),
    createdAt: createdAt(),
  },
  (table) => [
    index('audit_events_account_idx').on(table.accountId, table.id),
    index('audit_events_created_idx').on(table.createdAt),
  ],
);

/**
 * HTTPS endpoints an account registered to hear about its key changes (issue #14). The signing secret must
 * be usable for signing, so it cannot be hashed: it is stored encrypted (AES-256-GCM, key derived from
 * KEYWARD_SECRET; see src/webhooks/signing-secret.ts).
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    /** `v1.<base64url(iv | ciphertext | tag)>`; the row id is the additional data, so a copied secret fails. */
    secretCiphertext: text('secret_ciphertext').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (table) => [index('webhook_endpoints_account_idx').on(table.accountId, table.createdAt)],
);

/**
 * The webhook outbox: one row per (event, endpoint), written in the same transaction as the key change
 * (see src/webhooks/outbox.ts), delivered at least once by the worker on every instance. Deleting the
 * endpoint deletes its deliveries, which stops the pending ones.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
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
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
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
