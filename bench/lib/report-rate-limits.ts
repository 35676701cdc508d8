/** BENCHMARKS.md's "Rate limits across the fleet" (bench/sections/rate-limits.ts), and its rows among the targets. */
import type { BenchResults } from '../results.js';
import type { RateLimitsResult } from '../sections/rate-limits.js';
import type { VersusOpen } from '../sections/hot-path.js';
import { failed, number, rerunNote, signed, spread, table, verdict } from './report-format.js';

/** Issue #26's targets: the hot path with a limit far above the load, like the plain key's. */
export const LIMITED_HOT_PATH_RATIO = 0.9;

/** Every counted window between 95 % and 101 % (+1) of the limit. */
function accurate(fleet: RateLimitsResult['fleet']): boolean {
  return fleet.admittedPerWindow.every((count) => count >= fleet.lowestAllowed && count <= fleet.highestAllowed);
}

const rate = (limit: { requests: number; windowSeconds: number }) =>
  `${limit.requests.toLocaleString('en-US')} requests per ${limit.windowSeconds} s`;

export function rateLimitsSummaryRows(results: BenchResults): string[][] {
  const r = results.sections.rateLimits?.result;
  if (!r) return [];
  const { fleet, hotPath } = r;
  return [
    [
      `Rate limits: admitted ÷ limit per window, ${fleet.instances} instances, load ${fleet.loadFactor}× the limit`,
      spread(fleet.admittedRatio, 3),
      `every window in [${fleet.lowestAllowed}, ${fleet.highestAllowed}] of ${fleet.limit.requests}`,
      verdict(accurate(fleet)),
    ],
    [
      'Rate limits: hot path, key with a limit far above the load: throughput ÷ open',
      spread(hotPath.limitedVersusOpen.ratio, 3),
      `≥ ${LIMITED_HOT_PATH_RATIO}`,
      verdict(hotPath.limitedVersusOpen.ratio.median >= LIMITED_HOT_PATH_RATIO),
    ],
    [
      '… server CPU per request, open ÷ limited key',
      spread(hotPath.limitedVersusOpen.cpuRatio, 3),
      `(≥ ${LIMITED_HOT_PATH_RATIO})`,
      verdict(hotPath.limitedVersusOpen.cpuRatio.median >= LIMITED_HOT_PATH_RATIO),
    ],
    [
      'Rate limits: Redis scripts per admitted request, over the limit / far below it',
      `${number(fleet.scripts.perAdmitted, 4)} / ${number(hotPath.scripts.perAdmitted, 4)}`,
      'no round trip per request',
      verdict(fleet.scripts.perAdmitted < 1 && hotPath.scripts.perAdmitted < 1),
    ],
  ];
}

function versusRow(name: string, versus: VersusOpen): string[] {
  return [
    name,
    spread(versus.ratio, 3),
    spread(versus.cpuRatio, 3),
    signed(versus.addedP99Ms, 3, 'ms'),
    signed(versus.addedServerCpuUs, 1, 'µs'),
  ];
}

export function rateLimitsSection(results: BenchResults): string {
  const outcome = results.sections.rateLimits;
  if (!outcome) return '_Not measured in this run (the section is newer than these results)._\n';
  if (!outcome.result) return failed('The rate-limits section', outcome);
  const { fleet, hotPath } = outcome.result;
  const load = hotPath.load;
  const unexpected = Object.entries(fleet.unexpected);
  return `${rerunNote(outcome, 'rateLimits')}**Accuracy.** ${fleet.instances} keyward instances (\`node --import tsx src/server.ts\`, as in section 4) on one
Postgres database and one Redis prefix, keyward's defaults (\`KEYWARD_RATE_LIMIT_TIMEOUT_MS\` included). One key with a
limit of its own of ${rate(fleet.limit)}, asked \`GET /v1/verify\` at ${number(fleet.offeredPerSec, 0)} requests per second
(${fleet.loadFactor}× the limit's rate), spread evenly over the instances by one client process at a fixed rate
(bench/lib/window-load.ts; kept-alive connections, one request in flight each). Each admitted answer (204) is counted
in the window, aligned to the epoch as keyward's are, in which it arrived; the window the load starts in and the next
are warm-up, then ${fleet.admittedPerWindow.length} windows are counted. The issue's bound: between 95 % and 101 % (+1) of the
limit in every window, fleet-wide.

${table(
  ['admitted ÷ limit: min', 'median', 'max', 'admitted per window', 'bound', ''],
  [
    [
      number(fleet.admittedRatio.min, 3),
      number(fleet.admittedRatio.median, 3),
      number(fleet.admittedRatio.max, 3),
      fleet.admittedPerWindow.join(', '),
      `${fleet.lowestAllowed} – ${fleet.highestAllowed}`,
      verdict(accurate(fleet)),
    ],
  ],
)}

- Sent ${number(fleet.sentPerSec, 0)} requests per second, ${number((fleet.sentPerSec * fleet.limit.windowSeconds) / fleet.limit.requests, 1)}× the limit's rate (of ${number(fleet.offeredPerSec, 0)} offered; ${fleet.skipped} skipped
  because every connection was still waiting), per instance ${fleet.sentPerInstance.map((sent) => sent.toLocaleString('en-US')).join(' / ')};
  refused 429: ${fleet.refused.toLocaleString('en-US')}; other answers: ${unexpected.length === 0 ? 'none' : unexpected.map(([status, count]) => `${status} × ${count}`).join(', ')}.
- Instances that had to admit on their own share at some point (\`keyward_rate_limits_degraded\` 1 after the load): ${fleet.degradedInstances}.

**Cost on the hot path.** One bench server (as in section 1), three routes interleaved over ${load.rounds} rounds
(${load.throughputConnections} connections for ${load.throughputSec} s, then one connection for ${load.latencySec} s; ${load.warmupSec} s
of warm-up each): \`/open\`, \`/secured\` with a cached key without a limit, and \`/secured\` with a cached key whose
own limit is ${rate(hotPath.limit)}, far above anything this machine can send, so every request is admitted from a
batch reserved in Redis. Ratios within each round. argon2 verifications during the runs: ${hotPath.argon2Verifications} (must be 0).

${table(
  ['against `/open`', 'throughput ratio', 'CPU ratio (open ÷ route)', 'added p99 (1 conn.)', 'added server CPU'],
  [
    versusRow('key with a limit far above the load', hotPath.limitedVersusOpen),
    versusRow('the same key check without a limit', hotPath.securedVersusOpen),
  ],
)}

With the limit ÷ without, within each round: ${spread(hotPath.limitedVersusSecured, 3)}. Target: ≥ ${LIMITED_HOT_PATH_RATIO}× \`/open\`
(${verdict(hotPath.limitedVersusOpen.ratio.median >= LIMITED_HOT_PATH_RATIO)}). These rounds are this section's own; ${
    results.sections.hotPath.result?.versusOpen.limited
      ? 'section 1 measures the same kind of key among all its routes, in its own rounds'
      : 'section 1 did not measure a limited key in this run (it does from the next full run on)'
  }.

**Redis scripts per admitted request.** Each reservation is one Lua script (\`keywardReserve\`) that reserves a batch;
the limiter counts them itself (\`keyward_rate_limit_reservations_total\` on each instance's /metrics, read before and
after the load; the bench server's stats). Redis' own command counts would mix in the leases and heartbeats of every
fleet on the bench's Redis.

${table(
  ['load', 'scripts', 'admitted', 'scripts per admitted request'],
  [
    [
      `above the limit, ${fleet.instances} instances (the whole load, warm-up included)`,
      fleet.scripts.reservations.toLocaleString('en-US'),
      fleet.scripts.admitted.toLocaleString('en-US'),
      number(fleet.scripts.perAdmitted, 4),
    ],
    [
      `limit far above the load, one saturating run of ${number(hotPath.scripts.durationSec, 1)} s`,
      hotPath.scripts.reservations.toLocaleString('en-US'),
      hotPath.scripts.admitted.toLocaleString('en-US'),
      number(hotPath.scripts.perAdmitted, 4),
    ],
  ],
)}
`;
}
