import postgres from 'postgres';
import t from 'tap';
import {
  ACTIVE_SLOTS,
  freeSlot,
  hasRoomFor,
  KEY_LIMIT_MESSAGE,
  KeyLimitReached,
  MAX_ACTIVE_KEYS,
  MAX_ACTIVE_KEYS_IN_WORDS,
} from '../../src/db/active-key-slots.js';
import { createTestDatabase } from '../support/services.js';

t.test('the slots are 1 … MAX_ACTIVE_KEYS, and a new key takes the lowest free one', async (t) => {
  t.same(
    ACTIVE_SLOTS,
    Array.from({ length: MAX_ACTIVE_KEYS }, (_, index) => index + 1),
  );
  t.equal(freeSlot([]), 1);
  t.equal(freeSlot([1]), 2);
  t.equal(freeSlot([2, null]), 1, 'an ended key holds no slot');
  t.equal(freeSlot(ACTIVE_SLOTS), undefined, 'full');
  t.ok(hasRoomFor(MAX_ACTIVE_KEYS - 1));
  t.notOk(hasRoomFor(MAX_ACTIVE_KEYS));
  t.notOk(hasRoomFor(MAX_ACTIVE_KEYS - 1, 2), 'a change needing two slots');
});

t.test('the 409 says the limit in words', async (t) => {
  t.equal(MAX_ACTIVE_KEYS_IN_WORDS, 'two');
  t.equal(new KeyLimitReached().message, KEY_LIMIT_MESSAGE);
  t.match(KEY_LIMIT_MESSAGE, /already has two active keys/);
});

// A change of MAX_ACTIVE_KEYS without its migration (`npm run db:generate`) fails here, not as 500s later.
t.test("the migrated database's slot check allows exactly ACTIVE_SLOTS", async (t) => {
  const sql = postgres(await createTestDatabase(t), { max: 1 });
  t.teardown(() => sql.end());
  const [row] = await sql<{ definition: string }[]>`
    SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = 'api_keys_slot_check'`;
  const allowed = [...row!.definition.matchAll(/\d+/g)].map(([digits]) => Number(digits));
  t.same(allowed, ACTIVE_SLOTS, row!.definition);
});
