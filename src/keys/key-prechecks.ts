/**
 * The refusals of a key change that need no argon2, read before the new key is hashed: cheap reads outside
 * the transaction. Only hints: the transaction decides again under the account's lock (./key-changes.ts),
 * and the unique index on (account, slot) is the last word.
 */
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { KeyLimitReached, KeyNotActive, KeyNotFound, RotationPending } from '../http/errors.js';
import { hasRoomFor } from '../db/active-key-slots.js';

/** A key that holds its slot past now: a passed expiry frees the slot at the account's next change. */
const activeAfterNow = sql`(${apiKeys.expiresAt} IS NULL OR ${apiKeys.expiresAt} > now())`;

/**
 * The cheap read before argon2: an account whose slots are all held by keys that stay active answers 409
 * without hashing a key it could not store. Only a hint: the transaction decides again under the
 * account's lock, and the unique index on (account, slot) is the last word.
 */
export async function refuseWhenFull(db: Database, accountId: string): Promise<void> {
  const [row] = await db
    .select({ held: sql<number>`count(*)`.mapWith(Number) })
    .from(apiKeys)
    .where(and(eq(apiKeys.accountId, accountId), isNotNull(apiKeys.slot), activeAfterNow));
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
    .select({ slot: apiKeys.slot, expiresAt: apiKeys.expiresAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId)));
  if (!old) throw new KeyNotFound();
  if (old.slot === null || (old.expiresAt !== null && old.expiresAt.getTime() <= Date.now())) {
    throw new KeyNotActive();
  }
  if (old.expiresAt !== null) throw new RotationPending();
  // Ending the old key at once frees its slot for the new one; otherwise the new key needs a free slot.
  if (expireOldKeyInSeconds !== 0) await refuseWhenFull(db, accountId);
}
