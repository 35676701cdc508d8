/** Accounts, the users who sign in to them, and their sessions. */
import { bigint, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, uuidPrimaryKey, ownedBy } from './columns.js';

export const accounts = pgTable('accounts', {
  id: uuidPrimaryKey(),
  name: text('name').notNull(),
  createdAt: createdAt(),
});

export const users = pgTable(
  'users',
  {
    id: uuidPrimaryKey(),
    accountId: ownedBy('account_id', () => accounts.id),
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
    userId: ownedBy('user_id', () => users.id),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
    /** Where the session was signed in from, shown on Settings → Account; NULL for sessions older than 0011. */
    userAgent: text('user_agent'),
    clientAddress: text('client_address'),
  },
  (table) => [index('sessions_user_idx').on(table.userId), index('sessions_expires_idx').on(table.expiresAt)],
);

/**
 * An account's plan, set by the operator (`keyward set-plan`), never by the customer: its rate limit over all
 * its keys together and its monthly quota. No row: the deployment's defaults (KEYWARD_ACCOUNT_RATE_LIMIT_*,
 * KEYWARD_ACCOUNT_MONTHLY_QUOTA); a NULL in a row: no such limit for this account.
 */
export const accountPlans = pgTable('account_plans', {
  accountId: uuid('account_id')
    .primaryKey()
    .references(() => accounts.id, { onDelete: 'cascade' }),
  rateLimitRequests: integer('rate_limit_requests'),
  rateLimitWindowSeconds: integer('rate_limit_window_seconds'),
  monthlyQuota: bigint('monthly_quota', { mode: 'number' }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
