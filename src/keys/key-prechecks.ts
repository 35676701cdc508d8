/**
 * The refusals of a key change that need no argon2, read before the new key is hashed: cheap reads outside
 * the transaction. Only hints: the transaction decides again under the account's lock (./key-statements.ts),
 * and the unique index on (account, slot) is the last word.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { KeyLimitReached, KeyNotFound } from '../http/errors.js';
import { hasRoomFor } from '../db/active-key-slots.js';
import { isActiveKey, rotationRefusal } from './key-state.js';

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
