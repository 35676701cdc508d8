import { timestamp, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';

/** User agents are client-chosen text: audit events and key callers keep this much of one, what identifies a client. */
export { MAX_USER_AGENT_LENGTH } from '../../packages/member/src/usage-counts.js';

/** The longest email address (RFC 5321's 256-octet path less its angle brackets), in code points as schemas count. */
export const MAX_EMAIL_LENGTH = 254;

/** The `created_at` column most tables have: when the row was written. */
export const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/** A random uuid primary key. */
export const uuidPrimaryKey = () => uuid('id').primaryKey().defaultRandom();

/** A required reference to the row that owns this one: deleting the owner deletes it. */
export const ownedBy = (name: string, owner: () => AnyPgColumn) =>
  uuid(name).notNull().references(owner, { onDelete: 'cascade' });

/** A reference to the user who did something; NULL once that user is deleted. */
export const doneBy = (name: string, user: () => AnyPgColumn) => uuid(name).references(user, { onDelete: 'set null' });
