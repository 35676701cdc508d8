import t from 'tap';
import { KeyCache, NO_EPOCH, type CachedKey } from '../../packages/member/src/key-cache.js';

/*
 * The in-process tier on its own. Time is passed in, so TTLs are tested
 * without waiting.
 */

const T0 = 1_700_000_000_000;

function entry(overrides: Partial<CachedKey> = {}): CachedKey {
  return {
    digest: 'digest-of-the-key',
    accountId: '00000000-0000-4000-8000-000000000001',
    expiresAt: null,
    status: 'active',
    restriction: null,
    epoch: 1,
    cachedAt: T0,
    ...overrides,
  };
}

t.test('the size bound evicts the oldest inserted entry', async (t) => {
  const cache = new KeyCache(2, 60_000, 10_000);
  const mark = cache.changeMark();
  cache.set('a', entry(), mark);
  cache.set('b', entry(), mark);
  t.ok(cache.get('a', T0), 'reading does not refresh: eviction order is insertion order');
  cache.set('c', entry(), mark);
  t.equal(cache.size, 2);
  t.equal(cache.get('a', T0), undefined, 'the oldest went first');
  t.ok(cache.get('b', T0));
  t.ok(cache.get('c', T0));

  // Setting a key again re-inserts it at the young end.
  cache.set('b', entry({ digest: 'newer' }), mark);
  cache.set('d', entry(), mark);
  t.equal(cache.get('c', T0), undefined, 'c was now the oldest');
  t.equal(cache.get('b', T0)?.digest, 'newer');
  t.ok(cache.get('d', T0));
  t.equal(cache.size, 2);
});

t.test('entries are believed at most the hard TTL, whatever their status; their digest stays known', async (t) => {
  const cache = new KeyCache(10, 5_000, 10_000);
  cache.set('active', entry({ cachedAt: T0 }), cache.changeMark());
  cache.set('revoked', entry({ cachedAt: T0, status: 'revoked' }), cache.changeMark());
  t.ok(cache.get('active', T0 + 5_000), 'still there at exactly the TTL');
  t.equal(cache.get('active', T0 + 5_001), undefined, 'gone after it');
  t.equal(cache.get('revoked', T0 + 5_001), undefined);
  t.equal(cache.knownDigest('active'), entry().digest, 'the digest of an aged entry still proves its secret');
  t.equal(cache.knownDigest('never-cached'), undefined);
});

t.test('unknown ids are remembered for the negative TTL only', async (t) => {
  const cache = new KeyCache(10, 60_000, 3_000);
  t.equal(cache.isUnknown('ghost', T0), false);
  cache.markUnknown('ghost', T0, cache.changeMark());
  t.equal(cache.isUnknown('ghost', T0 + 2_999), true);
  t.equal(cache.isUnknown('ghost', T0 + 3_000), false, 'forgotten once the negative TTL passed');
  t.equal(cache.isUnknown('ghost', T0 + 1_000), false, 'and stays forgotten');

  cache.markUnknown('later-created', T0, cache.changeMark());
  cache.set('later-created', entry(), cache.changeMark());
  t.equal(cache.isUnknown('later-created', T0), false, 'a key found after all is no longer unknown');

  const disabled = new KeyCache(10, 60_000, 0);
  disabled.markUnknown('ghost', T0, disabled.changeMark());
  t.equal(disabled.isUnknown('ghost', T0), false, 'a negative TTL of 0 disables negative caching');
});

t.test('the negative cache is bounded like the positive one', async (t) => {
  const cache = new KeyCache(2, 60_000, 10_000);
  for (const id of ['a', 'b', 'c']) cache.markUnknown(id, T0, cache.changeMark());
  t.equal(cache.isUnknown('a', T0), false, 'the oldest unknown id went first');
  t.equal(cache.isUnknown('b', T0), true);
  t.equal(cache.isUnknown('c', T0), true);
});

t.test('a check that started before a change cannot store its stale answer', async (t) => {
  const cache = new KeyCache(10, 60_000, 10_000);
  // A check takes its mark, reads Postgres (key active)… meanwhile the key is revoked here.
  const mark = cache.changeMark();
  cache.changed('k', 'revoked', T0);
  t.equal(cache.set('k', entry(), mark), false, 'set refuses an entry read before the change');
  t.equal(cache.get('k', T0), undefined);

  const markUnknown = cache.changeMark();
  cache.changed('u', 'revoked', T0);
  cache.markUnknown('u', T0, markUnknown);
  t.equal(cache.isUnknown('u', T0), false, 'nor may it store "unknown" for a key that changed');

  // A check that started after the change may store what it read.
  t.equal(cache.set('k', entry({ status: 'revoked' }), cache.changeMark()), true);
  t.equal(cache.get('k', T0)?.status, 'revoked');

  // Marks are per key: a change to one key does not refuse another.
  const other = cache.changeMark();
  cache.changed('k', 'expired', T0);
  t.equal(cache.set('other', entry(), other), true);
});

t.test('a change clears the unknown mark of its key', async (t) => {
  const cache = new KeyCache(10, 60_000, 10_000);
  cache.markUnknown('k', T0, cache.changeMark());
  cache.changed('k', 'revoked', T0);
  t.equal(cache.isUnknown('k', T0), false);
});

t.test('revoked and expired keep the digest with the final status', async (t) => {
  for (const kind of ['revoked', 'expired'] as const) {
    const cache = new KeyCache(10, 60_000, 10_000);
    cache.set('k', entry(), cache.changeMark());
    cache.changed('k', kind, T0 + 1);
    const kept = cache.get('k', T0 + 1);
    t.equal(kept?.status, kind, `${kind}: status is final`);
    t.equal(kept?.digest, 'digest-of-the-key', `${kind}: the digest stays, so later requests cost nothing`);
    t.equal(cache.size, 1);
  }
});

t.test('expiry_scheduled drops the entry so the next check reads the new expiry', async (t) => {
  const cache = new KeyCache(10, 60_000, 10_000);
  cache.set('k', entry(), cache.changeMark());
  cache.changed('k', 'expiry_scheduled', T0);
  t.equal(cache.get('k', T0), undefined);
  t.equal(cache.size, 0);
});

t.test('an updated restriction keeps the digest but believes the entry in no epoch', async (t) => {
  const cache = new KeyCache(10, 60_000, 10_000);
  const mark = cache.changeMark();
  cache.set('k', entry(), mark);
  cache.changed('k', 'updated', T0);
  t.equal(cache.get('k', T0)?.epoch, NO_EPOCH, 'checked again before it is believed');
  t.equal(cache.knownDigest('k'), 'digest-of-the-key', 'its digest still proves the secret: no argon2');
  t.equal(cache.set('k', entry(), mark), false, 'a check that read the old restriction cannot put it back');
});

t.test('change marks are forgotten only after no running check can predate them', async (t) => {
  const cache = new KeyCache(10, 60_000, 10_000);
  const mark = cache.changeMark();
  cache.changed('k', 'revoked', T0);
  cache.pruneChanges(T0 + 60_000);
  t.equal(cache.set('k', entry(), mark), false, 'a minute later the mark still holds');
  cache.pruneChanges(T0 + 11 * 60_000);
  t.equal(cache.set('k', entry(), mark), true, 'ten minutes on, it is pruned');
});
