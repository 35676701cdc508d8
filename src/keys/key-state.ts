/**
 * Where a key stands, defined once: in TypeScript for rows already read, and as the SQL fragment every
 * statement that needs "active" filters on. A key is active while it holds a slot (src/db/active-key-slots.ts)
 * and its expiry, if it has one, is ahead; a passed expiry frees the slot at the account's next change
 * (or maintenance), so until then "active" also reads the clock. Revoked and expired are final; why a key
 * ended is one of END_REASONS (src/db/key-tables.ts).
 */
import { and, eq, sql } from 'drizzle-orm';
import { hasRoomFor, KeyLimitReached } from '../db/active-key-slots.js';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { KeyNotActive, KeyNotFound, RotationPending } from '../http/errors.js';
import type { KeyStatus } from '../../packages/member/src/key-status.js';

/** The stored columns a key's state is read from. */
export interface KeyStateColumns {
  slot: number | null;
  revokedAt: Date | null;
  expiresAt: Date | null;
}

/** A key's status at `now`, from its row. */
export function keyStatus(row: Pick<KeyStateColumns, 'revokedAt' | 'expiresAt'>, now = Date.now()): KeyStatus {
  if (row.revokedAt !== null) return 'revoked';
  return row.expiresAt !== null && row.expiresAt.getTime() <= now ? 'expired' : 'active';
}

/** The same as SQL over `api_keys`: the key holds its slot and its expiry, if any, is ahead of the database's clock. */
export const isActiveKey = sql`(${apiKeys.slot} IS NOT NULL AND (${apiKeys.expiresAt} IS NULL OR ${apiKeys.expiresAt} > now()))`;

/**
 * Why a key cannot be rotated, if it cannot: it must be active and have no expiry scheduled yet (a rotation
 * schedules one). Checked before hashing the new key and again under the account's lock, by this one rule.
 */
export function rotationRefusal(old: KeyStateColumns, now = Date.now()): Error | undefined {
  if (old.slot === null || keyStatus(old, now) !== 'active') return new KeyNotActive();
  if (old.expiresAt !== null) return new RotationPending();
  return undefined;
}

/*
 * The refusals of a key change that need no argon2, read before the new key is hashed: cheap reads outside
 * the transaction. Only hints: the transaction decides again under the account's lock
 * (./key-statements.ts), and the unique index on (account, slot) is the last word.
 */

/**
 * The cheap read before argon2: an account whose slots are all held by keys that stay active answers 409
 * without hashing a key it could not store. Only a hint: the transaction decides again under the
 * account's lock, and the unique index on (account, slot) is the last word.
 */
export async function refuseWhenFull(db: Database, accountId: string): Promise<void> {
  const [row] = await db
    .select({ held: sql<number>`count(*)`.mapWith(Number) })
    .from(apiKeys)
    .where(and(eq(apiKeys.accountId, accountId), isActiveKey));
  if (!hasRoomFor(row!.held)) throw new KeyLimitReached();
}

/** The rotation's refusals that need no argon2, read before hashing (and decided again in the transaction). */
export async function refuseRotationEarly(
  db: Database,
  accountId: string,
  keyId: string,
  expireOldKeyInSeconds?: number,
): Promise<void> {
  const [old] = await db
    .select({ slot: apiKeys.slot, revokedAt: apiKeys.revokedAt, expiresAt: apiKeys.expiresAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId)));
  if (!old) throw new KeyNotFound();
  const refusal = rotationRefusal(old);
  if (refusal) throw refusal;
  // Ending the old key at once frees its slot for the new one; otherwise the new key needs a free slot.
  if (expireOldKeyInSeconds !== 0) await refuseWhenFull(db, accountId);
}
