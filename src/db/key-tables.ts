/** The keys, and the log of key changes every cache must hear about. */
import { sql } from 'drizzle-orm';
import {
  bigserial,
  check,
  index,
  jsonb,
  pgTable,
  integer,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { slotCheck } from './active-key-slots.js';
import { accounts, users } from './account-tables.js';
import { createdAt, ownedBy, doneBy } from './columns.js';

/**
 * Why a key ended, one vocabulary for the API (`revocation.reason`), the key's row, its key event, its audit
 * record and the webhooks' `key.revoked`: `revoked` on request (dashboard, API, `keyward revoke-key`),
 * `leaked` by a secret scanner's report, `expired` by its scheduled expiry (or a rotation with no grace).
 */
export const END_REASONS = ['revoked', 'leaked', 'expired'] as const;
export type EndReason = (typeof END_REASONS)[number];

export const apiKeys = pgTable(
  'api_keys',
  {
    /** The public key id, also the lookup id embedded in the key itself. */
    id: text('id').primaryKey(),
    accountId: ownedBy('account_id', () => accounts.id),
    name: text('name').notNull(),
    /** argon2id PHC string of the full key; the key itself is never stored. */
    secretHash: text('secret_hash').notNull(),
    /** What the dashboard shows: prefix, id and the last 4 characters (`kw_<id>_…abcd`). */
    hint: text('hint').notNull(),
    /**
     * One of ACTIVE_SLOTS while the key is active, NULL once it is revoked or expired. The unique index on
     * (account_id, slot) and the slot check are what enforce src/db/active-key-slots.ts in the database.
     */
    slot: smallint('slot'),
    createdBy: doneBy('created_by', () => users.id),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedBy: doneBy('revoked_by', () => users.id),
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
     * Why the key was revoked (END_REASONS: `revoked` or `leaked`; an expired key is told by its expiry).
     * NULL while not revoked, and for keys revoked before this column existed (read as `revoked`).
     */
    revocationReason: text('revocation_reason', { enum: END_REASONS }),
    /**
     * The first report that the key was found in public (GitHub secret scanning): when, where (a URL, possibly
     * empty) and in what (GitHub's `source`, e.g. `commit`). Kept in the row, not only in the audit log, so
     * the dashboard can still say why the key ended after the audit retention has pruned the event.
     */
    leakedAt: timestamp('leaked_at', { withTimezone: true }),
    leakUrl: text('leak_url'),
    leakSource: text('leak_source'),
    /** The scopes the key is limited to; NULL: full access. */
    scopes: text('scopes').array(),
    /** The addresses and CIDR ranges (canonical text) the key may be used from; NULL: anywhere. */
    allowedNetworks: text('allowed_networks').array(),
    /** The owner's JSON object about the key, returned with it and never interpreted; NULL: none. */
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    /**
     * The key's own rate limit: at most `rate_limit_requests` per `rate_limit_window_seconds` (both NULL: none
     * but its account's). Counted fleet-wide (src/rate-limits/).
     */
    rateLimitRequests: integer('rate_limit_requests'),
    rateLimitWindowSeconds: integer('rate_limit_window_seconds'),
  },
  (table) => [
    uniqueIndex('api_keys_active_slot_key').on(table.accountId, table.slot),
    index('api_keys_account_idx').on(table.accountId, table.createdAt),
    check('api_keys_slot_check', slotCheck(table.slot)),
    check('api_keys_ended_has_no_slot', sql`${table.revokedAt} IS NULL OR ${table.slot} IS NULL`),
    check(
      'api_keys_rate_limit_whole',
      sql`(${table.rateLimitRequests} IS NULL) = (${table.rateLimitWindowSeconds} IS NULL)`,
    ),
  ],
);

/**
 * Append-only log of changes that caches must hear about: a key revoked,
 * expired, given an expiry (rotation), or its restriction changed (updated), in commit order. Written in the
 * same transaction as the change. `published_at` stays NULL until the event
 * reached Redis; any instance relays events left unpublished (outbox).
 */
export const keyEvents = pgTable(
  'key_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    keyId: text('key_id').notNull(),
    accountId: uuid('account_id').notNull(),
    kind: text('kind', { enum: ['revoked', 'expired', 'expiry_scheduled', 'updated'] }).notNull(),
    /** Why the key ended (revoked, expired); NULL for an expiry scheduled, and for events older than the column. */
    reason: text('reason', { enum: END_REASONS }),
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
