/**
 * 1b. CPU cost of one in-process key check, in a separate process
 * (bench/lib/check-cost.ts): ns per `KeyChecker.check()` and per
 * `ApiKeyAuthenticator.authenticate()` (which adds the limiter and usage counting).
 */
import { once } from 'node:events';
import type { CheckCase, CheckCostResult } from '../lib/check-cost.js';
import { spawnTsx } from '../lib/processes.js';
import { summarize, type Summary } from '../lib/stats.js';
import type { BenchContext } from './context.js';

export interface CheckCostSectionResult {
  callsPerRepetition: number;
  /** ns per call (CPU time), per case. */
  check: Record<CheckCase, Summary>;
  authenticate: Record<CheckCase, Summary>;
}

export async function runCheckCost(context: BenchContext): Promise<CheckCostSectionResult> {
  const log = context.log('check cost');
  const child = spawnTsx('bench/lib/check-cost.ts', {
    env: {
      BENCH_CHECK_CALLS: String(context.plan.checkCost.calls),
      BENCH_CHECK_REPEATS: String(context.plan.checkCost.repeats),
    },
  });
  const timer = setTimeout(() => void child.stop(), 120_000);
  const [code] = (await once(child.process, 'exit')) as [number | null];
  clearTimeout(timer);
  const line = child.output().trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{'))
    throw new Error(`check cost measurement failed (${code}):\n${child.output()}`);
  const result = JSON.parse(line) as CheckCostResult;
  const summarizeAll = (byCase: Record<CheckCase, number[]>) =>
    Object.fromEntries(Object.entries(byCase).map(([name, values]) => [name, summarize(values)])) as Record<
      CheckCase,
      Summary
    >;
  const check = summarizeAll(result.check);
  log(`cached valid key: ${check.cachedValid.median.toFixed(0)} ns per check()`);
  return { callsPerRepetition: result.callsPerRepetition, check, authenticate: summarizeAll(result.authenticate) };
}
