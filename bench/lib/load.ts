import type { BenchPlan } from '../config.js';
import type { LoadRequest, LoadResult } from './load-worker.js';
import { cpuSeconds, Worker } from './processes.js';
import { summarize, type Summary } from './stats.js';

export type LoadGenerator = Worker<LoadRequest, LoadResult>;

/** The autocannon process; one at a time. */
export function startLoadGenerator(): Promise<LoadGenerator> {
  return Worker.start<LoadRequest, LoadResult>('bench/lib/load-worker.ts');
}

/** One configuration under load: a URL (server and route) and the headers every request carries. */
export interface Variant {
  name: string;
  url: string;
  headers?: Record<string, string>;
  /** The server process, to charge its CPU time to the run. */
  serverPid?: number;
}

/** Per round, in round order. */
export interface VariantRuns {
  throughput: LoadResult[];
  latency: LoadResult[];
  /**
   * Server CPU time per answered request during the saturating run, in µs:
   * what a request costs the server, whatever share of the CPU it got on a busy machine.
   */
  serverCpuUs: number[];
}

export type Log = (line: string) => void;

const formatRate = (value: number) => Math.round(value).toLocaleString('en-US');

export function runLoad(load: LoadGenerator, variant: Variant, connections: number, durationSec: number) {
  return load.call(
    { url: variant.url, connections, durationSec, headers: variant.headers },
    (durationSec + 30) * 1000, // bounded: autocannon stops itself at durationSec
  );
}

/**
 * Runs every variant once per round, saturating (throughput) and then with
 * one connection (latency), rotating the order each round, so that drift in
 * the machine (other processes, thermal, GC state) hits all variants alike
 * and ratios can be taken within a round.
 */
export async function runInterleaved(
  load: LoadGenerator,
  variants: Variant[],
  plan: BenchPlan['load'],
  log: Log,
): Promise<Record<string, VariantRuns>> {
  const runs: Record<string, VariantRuns> = {};
  for (const variant of variants) {
    runs[variant.name] = { throughput: [], latency: [], serverCpuUs: [] };
    await runLoad(load, variant, plan.throughputConnections, plan.warmupSec);
  }
  for (let round = 0; round < plan.rounds; round++) {
    const order = variants.map((_, index) => variants[(index + round) % variants.length]!);
    for (const variant of order) {
      const cpuBefore = cpuSeconds(variant.serverPid);
      const throughput = await runLoad(load, variant, plan.throughputConnections, plan.throughputSec);
      const cpuUs = ((cpuSeconds(variant.serverPid) - cpuBefore) * 1e6) / throughput.ok;
      const latency = await runLoad(load, variant, 1, plan.latencySec);
      runs[variant.name]!.throughput.push(throughput);
      runs[variant.name]!.latency.push(latency);
      runs[variant.name]!.serverCpuUs.push(cpuUs);
      log(
        `round ${round + 1}/${plan.rounds} ${variant.name}: ${formatRate(throughput.requestsPerSec)} req/s ` +
          `(${cpuUs.toFixed(1)} µs server CPU each), p50/p99 ${latency.latency.p50.toFixed(3)}/` +
          `${latency.latency.p99.toFixed(3)} ms (1 connection)`,
      );
    }
  }
  return runs;
}

export interface VariantSummary {
  /** 2xx per second under saturating load. */
  requestsPerSec: Summary;
  /** Latency under saturating load (includes queueing), ms. */
  loadedP50Ms: Summary;
  loadedP99Ms: Summary;
  /** Latency with one connection (no queueing), ms. */
  p50Ms: Summary;
  p99Ms: Summary;
  /** Server CPU per request under saturating load, µs. */
  serverCpuUs: Summary;
  /** Answers other than 2xx, and socket errors: must be 0 for a valid key. */
  failures: number;
}

export function summarizeVariant(runs: VariantRuns): VariantSummary {
  const all = [...runs.throughput, ...runs.latency];
  return {
    requestsPerSec: summarize(runs.throughput.map((run) => run.requestsPerSec)),
    loadedP50Ms: summarize(runs.throughput.map((run) => run.latency.p50)),
    loadedP99Ms: summarize(runs.throughput.map((run) => run.latency.p99)),
    p50Ms: summarize(runs.latency.map((run) => run.latency.p50)),
    p99Ms: summarize(runs.latency.map((run) => run.latency.p99)),
    serverCpuUs: summarize(runs.serverCpuUs),
    failures: all.reduce((sum, run) => sum + failuresOf(run), 0),
  };
}

export function failuresOf(run: LoadResult): number {
  let failures = run.errors + run.timeouts;
  for (const [status, count] of Object.entries(run.statusCounts)) if (!status.startsWith('2')) failures += count;
  return failures;
}

/** Throughput of `numerator` over `denominator`, taken within each round. */
export function throughputRatio(runs: Record<string, VariantRuns>, numerator: string, denominator: string): Summary {
  const top = runs[numerator]!.throughput;
  const bottom = runs[denominator]!.throughput;
  return summarize(top.map((run, round) => run.requestsPerSec / bottom[round]!.requestsPerSec));
}

/** Latency of `variant` minus that of `baseline`, taken within each round, in milliseconds. */
export function addedLatency(
  runs: Record<string, VariantRuns>,
  variant: string,
  baseline: string,
  percentile: 'p50' | 'p99',
  kind: 'latency' | 'throughput',
): Summary {
  const mine = runs[variant]![kind];
  const theirs = runs[baseline]![kind];
  return summarize(mine.map((run, round) => run.latency[percentile] - theirs[round]!.latency[percentile]));
}

/** Server CPU per request of `variant` minus that of `baseline`, within each round, µs. */
export function addedServerCpu(runs: Record<string, VariantRuns>, variant: string, baseline: string): Summary {
  const theirs = runs[baseline]!.serverCpuUs;
  return summarize(runs[variant]!.serverCpuUs.map((cpu, round) => cpu - theirs[round]!));
}

/**
 * Server CPU per request of `baseline` over that of `variant`, within each round: the throughput ratio a server
 * bound by its own CPU would reach, independent of the share of a busy machine it was given.
 */
export function cpuRatio(runs: Record<string, VariantRuns>, variant: string, baseline: string): Summary {
  const theirs = runs[baseline]!.serverCpuUs;
  return summarize(runs[variant]!.serverCpuUs.map((cpu, round) => theirs[round]! / cpu));
}
