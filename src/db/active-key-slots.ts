/**
 * The active-key rule, in one place: an account has at most MAX_ACTIVE_KEYS keys active at once (one in use,
 * one being rolled out), each holding one numbered slot; an ended key holds none.
 *
 * Everything else derives from here: the slot a new key takes (`freeSlot`, under the account's lock in
 * src/keys/key-statements.ts), the database's own check (`slotCheck`, used by src/db/key-tables.ts; changing the
 * limit is a `npm run db:generate` away, and test/db/active-key-slots.test.ts fails until the migration exists)
 * and the 409 itself (`KeyLimitReached`, its words `KEY_LIMIT_MESSAGE`; the API's descriptions in src/keys/key-routes.ts).
 */
import createError from '@fastify/error';
import { sql } from 'drizzle-orm';

/** Most keys an account may have active at once: one in use, one being rolled out. */
export const MAX_ACTIVE_KEYS = 2;

/** The slots an active key can hold: 1 … MAX_ACTIVE_KEYS. */
export const ACTIVE_SLOTS: readonly number[] = Array.from({ length: MAX_ACTIVE_KEYS }, (_, index) => index + 1);

const NUMBER_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

/** The limit as people read it: "two". */
export const MAX_ACTIVE_KEYS_IN_WORDS = NUMBER_WORDS[MAX_ACTIVE_KEYS] ?? String(MAX_ACTIVE_KEYS);

/** The 409 `key_limit_reached` message. */
export const KEY_LIMIT_MESSAGE = `This account already has ${MAX_ACTIVE_KEYS_IN_WORDS} active keys. Revoke one before generating another.`;

/** The lowest slot no active key holds, or undefined when the account is full. */
export function freeSlot(heldSlots: ReadonlyArray<number | null>): number | undefined {
  return ACTIVE_SLOTS.find((slot) => !heldSlots.includes(slot));
}

/** Whether `held` active keys leave room for `needed` more. */
export function hasRoomFor(held: number, needed = 1): boolean {
  return held + needed <= MAX_ACTIVE_KEYS;
}

/**
 * The body of the `api_keys_slot_check` constraint over a slot column: `IN (1, 2)`. Generated from the same
 * constant, so the migration that follows a change of the limit comes from `npm run db:generate`.
 */
export function slotCheck(slotColumn: unknown) {
  return sql`${slotColumn} IN (${sql.raw(ACTIVE_SLOTS.join(', '))})`;
}

/** The 409 `key_limit_reached`: the account already has MAX_ACTIVE_KEYS active keys. */
export const KeyLimitReached = createError('KW_KEY_LIMIT_REACHED', KEY_LIMIT_MESSAGE, 409);
