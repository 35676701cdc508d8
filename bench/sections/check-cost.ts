/**
 * 1b. CPU cost of one in-process key check, in a separate process
 * (bench/lib/check-cost.ts): ns per `KeyChecker.check()` and per
 * `ApiKeyAuthenticator.authenticate()` (which adds the limiter and usage counting).
 */
import type { CheckCase, CheckCostResult } from '../lib/check-cost.js';
import { runJsonScript } from '../lib/processes.js';
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
  const result = await runJsonScript<CheckCostResult>('bench/lib/check-cost.ts', {
    env: {
      BENCH_CHECK_CALLS: String(context.plan.checkCost.calls),
      BENCH_CHECK_REPEATS: String(context.plan.checkCost.repeats),
    },
  });
  const summarizeAll = (byCase: Record<CheckCase, number[]>) =>
    Object.fromEntries(Object.entries(byCase).map(([name, values]) => [name, summarize(values)])) as Record<
      CheckCase,
      Summary
    >;
  const check = summarizeAll(result.check);
  log(`cached valid key: ${check.cachedValid.median.toFixed(0)} ns per check()`);
  return { callsPerRepetition: result.callsPerRepetition, check, authenticate: summarizeAll(result.authenticate) };
}
