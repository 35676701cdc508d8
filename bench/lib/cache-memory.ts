/**
 * Heap cost of keyward's in-process cache: fills a KeyCache with realistic
 * entries and measures heapUsed before and after, with full collections
 * between. Run as `node --expose-gc --import tsx bench/lib/cache-memory.ts`;
 * prints one JSON line (CacheMemoryResult).
 *
 * Two ways of building the entries are measured, alternately:
 * - `asChecker`: exactly as KeyChecker stores them: the cache's Map key is
 *   `parseKey(header).keyId`, a slice of the presented `x-api-key` string.
 * - `flatIds`: the same entries with the key id copied into its own string.
 * The difference is what the slices keep alive: in V8 a substring of 13 or
 * more characters is a "sliced string" that references its parent, so each
 * cached id keeps the whole presented key in memory.
 */
import { randomUUID } from 'node:crypto';
import { keyDigest } from '../../packages/member/src/digest.js';
import { KeyCache } from '../../packages/member/src/key-cache.js';
import { generateKey, parseKey } from '../../packages/member/src/key-format.js';

export interface CacheMemoryResult {
  entries: number;
  /** Heap bytes per entry, one value per repetition. */
  asChecker: number[];
  flatIds: number[];
}

const ENTRIES = Number(process.env.BENCH_CACHE_ENTRIES ?? 100_000);
const REPEATS = Number(process.env.BENCH_CACHE_REPEATS ?? 3);
const SECRET = 'bench-secret-bench-secret-bench-secret-00';

if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const collect = gc;

function settledHeap(): number {
  for (let i = 0; i < 4; i++) collect();
  return process.memoryUsage().heapUsed;
}

/** A sequential (flat) one-byte string, as Node's HTTP parser produces for header values. */
function flat(value: string): string {
  return Buffer.from(value, 'latin1').toString('latin1');
}

// Generated once (generateKey is slow); each fill copies them, as each request brings its own string.
const keys = Array.from({ length: ENTRIES }, () => generateKey('kw').key);

function fill(flatIds: boolean): { cache: KeyCache; bytesPerEntry: number } {
  const before = settledHeap();
  const cache = new KeyCache(ENTRIES * 2, 300_000, 10_000);
  for (let i = 0; i < ENTRIES; i++) {
    const header = flat(keys[i]!);
    const parsed = parseKey(header, 'kw')!;
    const keyId = flatIds ? flat(parsed.keyId) : parsed.keyId;
    cache.set(
      keyId,
      {
        digest: keyDigest(SECRET, parsed.fullKey),
        // Each entry's account id arrives as its own string (a Postgres row or a Redis JSON value).
        accountId: flat(randomUUID()),
        expiresAt: i % 10 === 0 ? Date.now() + 86_400_000 : null,
        status: 'active',
        restriction: null,
        epoch: 1,
        cachedAt: Date.now(),
      },
      cache.changeMark(),
    );
  }
  const after = settledHeap();
  return { cache, bytesPerEntry: (after - before) / ENTRIES };
}

const result: CacheMemoryResult = { entries: ENTRIES, asChecker: [], flatIds: [] };
fill(false); // warm-up: code compiled, heap grown
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const flatIds of repeat % 2 === 0 ? [false, true] : [true, false]) {
    const { cache, bytesPerEntry } = fill(flatIds);
    if (cache.size !== ENTRIES) throw new Error(`cache holds ${cache.size} entries, expected ${ENTRIES}`);
    (flatIds ? result.flatIds : result.asChecker).push(bytesPerEntry);
  }
}
process.stdout.write(JSON.stringify(result) + '\n');
