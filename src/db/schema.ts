import { sql } from 'drizzle-orm';
import { bigserial, check, index, pgTable, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

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
     * 1 or 2 while the key is active, NULL once it is revoked or expired. The
     * unique index on (account_id, slot) is what enforces "at most two active
     * keys per account" in the database itself.
     */
    slot: smallint('slot'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedBy: uuid('revoked_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (table) => [
    uniqueIndex('api_keys_active_slot_key').on(table.accountId, table.slot),
    index('api_keys_account_idx').on(table.accountId, table.createdAt),
    check('api_keys_slot_check', sql`${table.slot} IN (1, 2)`),
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
