import { bigserial, index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { accounts, users } from './account-tables.js';
import { createdAt, doneBy } from './columns.js';

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
    actorUserId: doneBy('actor_user_id', () => users.id),
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
        // A key's scopes, allowed networks or metadata changed (PATCH /v1/keys/{keyId}), with before and after.
        'key.updated',
        'password.changed',
        'session.others_ended',
        // Recorded by the secret-scanning endpoint (issue #14) beside the key.revoked of a leaked key.
        'key.leaked',
        'webhook.created',
        'webhook.deleted',
        // Operator actions on member credentials: no account (account_id NULL), shown to no customer.
        'member.created',
        'member.revoked',
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
