/**
 * 5b. Heap cost of the in-process cache per 100 k cached keys, measured in a
 * separate `node --expose-gc` process (bench/lib/cache-memory.ts).
 */
import { once } from 'node:events';
import type { CacheMemoryResult } from '../lib/cache-memory.js';
import { spawnTsx } from '../lib/processes.js';
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
  const child = spawnTsx('bench/lib/cache-memory.ts', {
    execArgv: ['--expose-gc'],
    env: {
      BENCH_CACHE_ENTRIES: String(context.plan.memory.entries),
      BENCH_CACHE_REPEATS: String(context.plan.memory.repeats),
    },
  });
  const timer = setTimeout(() => void child.stop(), 120_000);
  const [code] = (await once(child.process, 'exit')) as [number | null];
  clearTimeout(timer);
  const line = child.output().trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{'))
    throw new Error(`cache memory measurement failed (${code}):\n${child.output()}`);
  const result = JSON.parse(line) as CacheMemoryResult;
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
