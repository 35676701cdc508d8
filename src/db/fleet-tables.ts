/** The fleet itself: the services allowed to check keys through keyward, and settings every replica shares. */
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { createdAt } from './columns.js';

/**
 * Member credentials: what a service of the fleet checks keys with, instead of
 * keyward's database URL and server secret. Created, listed and revoked by the
 * operator (`keyward members …`).
 */
export const fleetMembers = pgTable('fleet_members', {
  /** Public id, also embedded in the credential (`kwm_<id>_<secret>`). */
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** SHA-256 (hex) of the whole credential: 192 random bits need no slow hash. */
  credentialHash: text('credential_hash').notNull(),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  /** Updated at most once a minute, by joins and heartbeats. */
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
});

/** Settings every replica must agree on; the first replica writes them, the others compare. */
export const fleetSettings = pgTable('fleet_settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
});
