/**
 * 3. Bogus-key flood: valid-key throughput on /secured while a second load
 * generator (from 127.0.0.2) sends malformed keys, or well-formed keys with
 * fresh unknown ids, at a fixed rate. Two servers: the failed-check limiter at
 * its default (100 failures per 60 s per address, then 429) and effectively
 * off (1,000,000). argon2 verifications are counted in each server.
 */
import { performance } from 'node:perf_hooks';
import type { FloodCommand, FloodKind, FloodReply, FloodResult } from '../lib/flood-worker.js';
import { failuresOf, runLoad, type Variant } from '../lib/load.js';
import type { LoadResult } from '../lib/load-worker.js';
import { KEY_PREFIX } from '../lib/environment.js';
import { cpuSeconds, Worker } from '../lib/processes.js';
import type { BenchServer } from '../lib/servers.js';
import { median, summarize, type Summary } from '../lib/stats.js';
import { sleep } from '../lib/util.js';
import { expectOk } from './hot-path.js';
import { SERVERS, type BenchContext } from './context.js';

export const FLOOD_ADDRESS = '127.0.0.2';
/**
 * The control flood (valid keys) comes from yet another address: the limiter at its default has blocked
 * FLOOD_ADDRESS by then, and would answer it 429 whatever the key.
 */
export const CONTROL_ADDRESS = '127.0.0.3';
/** The flood starts this long before the valid load is measured, and ends after it. */
const LEAD_MS = 300;

const pct = (share: number) => `${Math.round(share * 100)}%`;

function medianShares(runs: PhaseRun[]): CpuShares {
  return {
    server: median(runs.map((run) => run.cpu.server)),
    validLoad: median(runs.map((run) => run.cpu.validLoad)),
    flood: median(runs.map((run) => run.cpu.flood)),
  };
}

export type LimiterSetting = 'default' | 'off';
type Phase = 'none' | FloodKind;

export interface FloodPhaseSummary {
  /** Valid 2xx per second on /secured. */
  validRequestsPerSec: Summary;
  /** Over the no-flood figure of the same server, within each round. */
  ratio: Summary;
  /**
   * Over the figure with the control flood (a valid key at the same rate, from the same generator), within each
   * round: what the bad keys cost beyond the load of any extra requests on shared cores.
   */
  versusControl: Summary;
  /** Valid requests that did not get a 2xx (must be 0). */
  validFailures: number;
  /** Bad keys per second actually sent. */
  floodRate: Summary;
  floodSent: number;
  /** How the server answered the flood. */
  floodStatuses: Record<string, number>;
  /** argon2 verifications in the server while this kind of flood ran, all rounds together. */
  argon2Verifications: number;
  /** Share of one core each process used during the measurement (medians over rounds). */
  cpu: CpuShares;
}

export interface CpuShares {
  server: number;
  validLoad: number;
  flood: number;
}

export interface LimiterResult {
  setting: LimiterSetting;
  description: string;
  settings: Record<string, string>;
  noFlood: { validRequestsPerSec: Summary; validFailures: number; argon2Verifications: number; cpu: CpuShares };
  malformed: FloodPhaseSummary;
  unknown: FloodPhaseSummary;
  /** The control: the flood generator sending a valid key at the same rate. */
  control: FloodPhaseSummary;
}

export interface FloodSectionResult {
  floodRate: number;
  floodConnections: number;
  floodAddress: string;
  validAddress: string;
  limiters: Record<LimiterSetting, LimiterResult>;
}

interface PhaseRun {
  valid: LoadResult;
  flood?: FloodResult;
  argon2: number;
  cpu: CpuShares;
}

const LIMITERS = {
  default: {
    spec: SERVERS.default,
    description:
      'KEYWARD_FAILED_AUTH_LIMIT=100 guesses per 60 s per client, then 429 for what this instance cannot prove; ' +
      'malformed keys never count',
  },
  off: {
    spec: SERVERS.limiterOff,
    description: 'KEYWARD_FAILED_AUTH_LIMIT=1000000: every bad key gets its check and a 401',
  },
};

export async function runFlood(context: BenchContext): Promise<FloodSectionResult> {
  const log = context.log('flood');
  const { plan } = context;
  const [defaultServer, offServer] = await context.servers.start(LIMITERS.default.spec, LIMITERS.off.spec);
  const servers: Record<LimiterSetting, BenchServer> = { default: defaultServer!, off: offServer! };
  const flooder = await Worker.start<FloodCommand, FloodReply>('bench/lib/flood-worker.ts');
  const startFlood = async (): Promise<FloodResult> => {
    const reply = await flooder.call({ command: 'run' }, (plan.flood.durationSec + 60) * 1000);
    if (!('sent' in reply)) throw new Error('flood generator did not report a flood');
    return reply;
  };
  try {
    const runs: Record<LimiterSetting, Record<Phase, PhaseRun[]>> = {
      default: { none: [], malformed: [], unknown: [], valid: [] },
      off: { none: [], malformed: [], unknown: [], valid: [] },
    };
    const headers = { 'x-api-key': context.hotKey.key };
    for (const server of Object.values(servers)) {
      await expectOk(server.port, ['/secured'], context.hotKey.key);
      // At least a second: the limiter-off server has served nothing yet, and a cold JIT costs twice the CPU.
      const warmupSec = Math.max(1, plan.load.warmupSec);
      await runLoad(context.load, { name: 'warm-up', url: `${server.url}/secured`, headers }, 16, warmupSec);
    }

    const phases: Phase[] = ['none', 'malformed', 'unknown', 'valid'];
    for (let round = 0; round < plan.flood.rounds; round++) {
      for (const setting of round % 2 === 0 ? (['default', 'off'] as const) : (['off', 'default'] as const)) {
        const server = servers[setting];
        const variant: Variant = { name: setting, url: `${server.url}/secured`, headers };
        // Rotate the phases too, so that no kind of flood always runs first.
        for (const phase of phases.map((_, index) => phases[(index + round) % phases.length]!)) {
          const before = (await server.stats()).argon2Verifications;
          let floodRun: Promise<FloodResult> | undefined;
          if (phase !== 'none') {
            await flooder.call(
              {
                command: 'prepare',
                port: server.port,
                path: '/secured',
                kind: phase,
                rate: plan.flood.rate,
                connections: plan.flood.connections,
                durationSec: plan.flood.durationSec + (2 * LEAD_MS) / 1000,
                localAddress: phase === 'valid' ? CONTROL_ADDRESS : FLOOD_ADDRESS,
                keyPrefix: KEY_PREFIX,
                validKey: context.hotKey.key,
              },
              60_000,
            );
            floodRun = startFlood();
            await sleep(LEAD_MS);
          }
          const pids = [server.child.process.pid, context.load.child.process.pid, flooder.child.process.pid];
          const cpuBefore = pids.map(cpuSeconds);
          const started = performance.now();
          const valid = await runLoad(context.load, variant, plan.load.throughputConnections, plan.flood.durationSec);
          const seconds = (performance.now() - started) / 1000;
          const [serverCpu, loadCpu, floodCpu] = pids.map(
            (pid, index) => (cpuSeconds(pid) - cpuBefore[index]!) / seconds,
          );
          const cpu = { server: serverCpu!, validLoad: loadCpu!, flood: floodRun ? floodCpu! : 0 };
          const flood = await floodRun;
          const argon2 = (await server.stats()).argon2Verifications - before;
          runs[setting][phase].push({ valid, flood, argon2, cpu });
          log(
            `round ${round + 1}/${plan.flood.rounds} limiter ${setting}, flood ${phase}: ` +
              `valid ${Math.round(valid.requestsPerSec)} req/s` +
              (flood ? `, flood ${Math.round(flood.achievedRate)} req/s ${JSON.stringify(flood.statusCounts)}` : '') +
              `, argon2 +${argon2}, CPU server ${pct(cpu.server)} load ${pct(cpu.validLoad)} flood ${pct(cpu.flood)}`,
          );
        }
      }
    }

    const summarizeLimiter = (setting: LimiterSetting): LimiterResult => {
      const phaseRuns = runs[setting];
      const baseline = phaseRuns.none;
      const flooded = (phase: FloodKind): FloodPhaseSummary => {
        const list = phaseRuns[phase];
        const statuses: Record<string, number> = {};
        for (const run of list) {
          for (const [status, count] of Object.entries(run.flood?.statusCounts ?? {})) {
            statuses[status] = (statuses[status] ?? 0) + count;
          }
          if (run.flood?.errors) statuses.socketErrors = (statuses.socketErrors ?? 0) + run.flood.errors;
        }
        return {
          validRequestsPerSec: summarize(list.map((run) => run.valid.requestsPerSec)),
          ratio: summarize(list.map((run, round) => run.valid.requestsPerSec / baseline[round]!.valid.requestsPerSec)),
          versusControl: summarize(
            list.map((run, round) => run.valid.requestsPerSec / phaseRuns.valid[round]!.valid.requestsPerSec),
          ),
          validFailures: list.reduce((sum, run) => sum + failuresOf(run.valid), 0),
          floodRate: summarize(list.map((run) => run.flood?.achievedRate ?? 0)),
          floodSent: list.reduce((sum, run) => sum + (run.flood?.sent ?? 0), 0),
          floodStatuses: statuses,
          argon2Verifications: list.reduce((sum, run) => sum + run.argon2, 0),
          cpu: medianShares(list),
        };
      };
      return {
        setting,
        description: LIMITERS[setting].description,
        settings: LIMITERS[setting].spec.settings ?? {},
        noFlood: {
          validRequestsPerSec: summarize(baseline.map((run) => run.valid.requestsPerSec)),
          validFailures: baseline.reduce((sum, run) => sum + failuresOf(run.valid), 0),
          argon2Verifications: baseline.reduce((sum, run) => sum + run.argon2, 0),
          cpu: medianShares(baseline),
        },
        malformed: flooded('malformed'),
        unknown: flooded('unknown'),
        control: flooded('valid'),
      };
    };
    return {
      floodRate: plan.flood.rate,
      floodConnections: plan.flood.connections,
      floodAddress: FLOOD_ADDRESS,
      validAddress: '127.0.0.1',
      limiters: { default: summarizeLimiter('default'), off: summarizeLimiter('off') },
    };
  } finally {
    await flooder.stop();
  }
}
