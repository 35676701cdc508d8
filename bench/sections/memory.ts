/**
 * 5b. Heap cost of the in-process cache per 100 k cached keys, measured in a
 * separate `node --expose-gc` process (bench/lib/cache-memory.ts).
 */
import type { CacheMemoryResult } from '../lib/cache-memory.js';
import { runJsonScript } from '../lib/processes.js';
import { summarize, type Summary } from '../lib/stats.js';
import type { BenchContext } from './context.js';

export interface MemoryResult {
  entries: number;
  /** As KeyChecker stores entries (key id sliced from the presented key). */
  bytesPerKey: Summary;
  mibPer100k: Summary;
  /** The same entries with the key id copied into its own string. */
  flatIdsBytesPerKey: Summary;
  /** What each cached id keeps alive of the presented key (a V8 sliced string's parent). */
  retainedByIdSliceBytes: number;
}

export async function runMemory(context: BenchContext): Promise<MemoryResult> {
  const log = context.log('memory');
  const result = await runJsonScript<CacheMemoryResult>('bench/lib/cache-memory.ts', {
    execArgv: ['--expose-gc'],
    env: {
      BENCH_CACHE_ENTRIES: String(context.plan.memory.entries),
      BENCH_CACHE_REPEATS: String(context.plan.memory.repeats),
    },
  });
  const bytesPerKey = summarize(result.asChecker);
  const flatIdsBytesPerKey = summarize(result.flatIds);
  log(
    `${bytesPerKey.median.toFixed(0)} bytes per cached key (${flatIdsBytesPerKey.median.toFixed(0)} with copied ids)`,
  );
  return {
    entries: result.entries,
    bytesPerKey,
    mibPer100k: summarize(result.asChecker.map((bytes) => (bytes * 100_000) / 2 ** 20)),
    flatIdsBytesPerKey,
    retainedByIdSliceBytes: bytesPerKey.median - flatIdsBytesPerKey.median,
  };
}
