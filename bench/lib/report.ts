/** BENCHMARKS.md, written from the results of one run. */
import type { BenchResults } from '../results.js';
import type { LimiterResult } from '../sections/flood.js';
import {
  RESTRICTED_VARIANTS,
  type HotPathResult,
  type HotVariant,
  type PeerVariant,
  type RestrictedVariant,
  type VersusOpen,
} from '../sections/hot-path.js';
import type { PropagationFigures, RevocationResult } from '../sections/revocation.js';
import type { Summary } from './stats.js';
import { failed, number, rerunNote, signed, spread, table, verdict } from './report-format.js';
import { LIMITED_HOT_PATH_RATIO, rateLimitsSection, rateLimitsSummaryRows } from './report-rate-limits.js';

/** The issue's targets. */
export const TARGETS = {
  hotPathRatio: 0.9,
  hotPathRatioStretch: 0.95,
  /** A restricted key (scoped route, allowed networks), like the plain key's stretch target. */
  restrictedHotPathRatio: 0.95,
  addedP99Ms: 0.5,
  floodRatio: 0.8,
  cachedCheckNs: 600,
  revocationP99Ms: 10,
  revokeCallP99Ms: 20,
};

/** More than this 1-minute load average means other work shared the machine (the bench alone keeps ~2–3 busy). */
const BUSY_LOAD_AVERAGE = 4;

/**
 * Measured by hand and by test/package/packed-member.test.ts, not by this bench (installing from the
 * registry is no benchmark): what a service of the fleet gets when it installs keyward's key checking.
 */
function packageSizeSection(): string {
  return `What a service of the fleet installs to check keys: \`npm pack\`, installed into an empty ESM project with
\`npm install --omit=dev\` (npm 11.19.1, Node 20.20.2), then \`du -sk node_modules\`; packages counted with
\`npm ls --all --parseable\`. Before: the \`keyward\` package at commit b1edef8 (the checker shipped inside the
server's package; fastify a required peer). After: \`@keyward/member\` (issue #24). Both measured in one session on
2026-12-07, one after the other; import times are medians of 7 fresh processes, alternated, on a machine loaded by
other work (load average ~20 on 2 cores), so read them as ratios within a row.

| | before: \`keyward\` (+ fastify, a required peer) | after: \`@keyward/member\` alone | + fastify@5 | + express@5 |
| --- | --- | --- | --- | --- |
| installed | 63.2 MB, 101 packages | 1.7 MB, 10 packages | 16.7 MB, 58 packages | 6.0 MB, 76 packages |
| tarball | 347 kB, 255 files | 27 kB, 37 files | | |
| \`EBADENGINE\` on Node 20 | 2 (cookie@2.0.2 via @fastify/cookie, content-disposition@3.1.0 via swagger-ui) | none (also none on Node 20.15.0, its lowest) | 1, fastify's own (light-my-request → cookie@2.0.2) | none |
| \`import()\` against ioredis alone, same run | 1,920 ms against 765 ms: **2.5×** | 619 ms against 662 ms: **0.93×** (the package test, quieter: 203 against 178 ms, 1.14×) | | |
| RSS added to a Fastify process | +26.5 MiB | +11.8 MiB | | |
| holds | \`DATABASE_URL\`, \`KEYWARD_SECRET\` | a member credential, keyward's URL, a listen-only Redis user | | |

What left a service's tree: drizzle-orm and its migrator, two copies of postgres.js, @node-rs/argon2, typebox,
pino, @fastify/swagger and swagger-ui, @fastify/cookie, prom-client, fastify-plugin and fastify itself (an optional
peer now). The member depends on ioredis alone; argon2 runs on keyward, which answers a member's cold checks.
`;
}

const VARIANT_NAMES: Record<HotVariant, string> = {
  open: '`/open` — no authentication',
  secured: '`/secured` — keyward, cached key',
  set: '`/set` — in-memory constant-time key set (what @fastify/bearer-auth does)',
  redisGet: '`/redis-get` — naive Redis GET per request',
};
const RESTRICTED_NAMES: Record<RestrictedVariant, string> = {
  scoped: "`/scoped` — keyward, cached key with scopes ['orders:read'], the route asking for `orders:read`",
  networks: '`/secured` — keyward, cached key with allowedNetworks 127.0.0.0/8 (the load comes from 127.0.0.1)',
  limited: '`/secured` — keyward, cached key with a rate limit of its own far above the load',
};
const RESTRICTED_SHORT: Record<RestrictedVariant, string> = {
  scoped: 'scoped key on a scoped route',
  networks: 'allowed-networks key',
  limited: 'key with a limit far above the load',
};
/** The scoped and allowed-networks keys: the plain key's stretch target; the limited key: issue #26's. */
const RESTRICTED_TARGETS: Record<RestrictedVariant, number> = {
  scoped: TARGETS.restrictedHotPathRatio,
  networks: TARGETS.restrictedHotPathRatio,
  limited: LIMITED_HOT_PATH_RATIO,
};
const PEER_NAMES: Record<PeerVariant, string> = {
  betterAuth: "`/better-auth` — better-auth 1.3's api-key plugin (a peer; rate limit off)",
};

function summaryRows(results: BenchResults): string[][] {
  const rows: string[][] = [];
  const hot = results.sections.hotPath.result;
  if (hot) {
    const secured = hot.versusOpen.secured;
    rows.push([
      'Hot path: throughput, keyward ÷ open',
      spread(secured.ratio, 3),
      `≥ ${TARGETS.hotPathRatio} (stretch ${TARGETS.hotPathRatioStretch})`,
      secured.ratio.median >= TARGETS.hotPathRatioStretch
        ? 'met (stretch too)'
        : verdict(secured.ratio.median >= TARGETS.hotPathRatio),
    ]);
    rows.push([
      'Hot path: server CPU per request, open ÷ keyward (the ratio on a core of its own)',
      spread(secured.cpuRatio, 3),
      `(≥ ${TARGETS.hotPathRatio})`,
      verdict(secured.cpuRatio.median >= TARGETS.hotPathRatio),
    ]);
    rows.push(['Hot path: added p50, one connection', signed(secured.addedP50Ms, 3, 'ms'), '—', '']);
    rows.push(...restrictedHotPathRows(hot));
    const peer = hot.versusOpen.betterAuth;
    if (peer) rows.push(['Peer: better-auth api-key, throughput ÷ open (same run)', spread(peer.ratio, 3), '—', '']);
    rows.push([
      'Hot path: added p99, one connection',
      signed(secured.addedP99Ms, 3, 'ms'),
      `≤ ${TARGETS.addedP99Ms} ms`,
      verdict(secured.addedP99Ms.median <= TARGETS.addedP99Ms),
    ]);
    rows.push([
      'Hot path: added p99 under saturating load',
      signed(secured.addedLoadedP99Ms, 3, 'ms'),
      `(≤ ${TARGETS.addedP99Ms} ms)`,
      verdict(secured.addedLoadedP99Ms.median <= TARGETS.addedP99Ms),
    ]);
  }
  const cold = results.sections.cold.result;
  if (cold) {
    rows.push([
      'Cold check: Postgres + argon2id (no instance, not in Redis)',
      spread(cold.postgresArgon2Ms, 1, 'ms'),
      '—',
      '',
    ]);
    rows.push(['Cold check: key hot in Redis, new to the instance', spread(cold.redisHotMs, 2, 'ms'), '—', '']);
  }
  const checkCost = results.sections.checkCost?.result;
  if (checkCost) {
    rows.push([
      'Hot path: CPU per cached check, in process (`KeyChecker.check()`)',
      spread(checkCost.check.cachedValid, 0, 'ns'),
      `≤ ${TARGETS.cachedCheckNs} ns`,
      verdict(checkCost.check.cachedValid.median <= TARGETS.cachedCheckNs),
    ]);
  }
  const flood = results.sections.flood.result;
  if (flood) {
    for (const limiter of Object.values(flood.limiters)) {
      for (const kind of ['malformed', 'unknown'] as const) {
        const phase = limiter[kind];
        rows.push([
          `Flood (${kind === 'malformed' ? 'malformed keys' : 'unknown key ids'}, limiter ${limiter.setting}): valid throughput ÷ no flood`,
          `${spread(phase.ratio, 2)}; ÷ control flood of valid keys: ${number(phase.versusControl.median, 2)}`,
          `≥ ${TARGETS.floodRatio}`,
          verdict(phase.ratio.median >= TARGETS.floodRatio),
        ]);
      }
    }
    const malformedArgon2 =
      flood.limiters.default.malformed.argon2Verifications + flood.limiters.off.malformed.argon2Verifications;
    const malformedSent = flood.limiters.default.malformed.floodSent + flood.limiters.off.malformed.floodSent;
    rows.push([
      'Flood: argon2 verifications caused by malformed keys',
      `${malformedArgon2} for ${malformedSent.toLocaleString('en-US')} malformed keys`,
      '0',
      verdict(malformedArgon2 === 0),
    ]);
  }
  const revocation = results.sections.revocation.result;
  if (revocation) {
    const warmFigure = "… without each instance's first revocation (warm instances)";
    rows.push(
      p99TargetRow(
        'Revocation: revoke call → first rejection, p99 over instances × revocations',
        revocation.firstRejectionMs,
        TARGETS.revocationP99Ms,
      ),
    );
    if (revocation.warm) {
      rows.push(p99TargetRow(warmFigure, revocation.warm.firstRejectionMs, TARGETS.revocationP99Ms, 'secondary'));
    }
    rows.push(p99TargetRow('Revocation: revoke call duration, p99', revocation.revokeCallMs, TARGETS.revokeCallP99Ms));
    if (revocation.warm) {
      rows.push(p99TargetRow(warmFigure, revocation.warm.revokeCallMs, TARGETS.revokeCallP99Ms, 'secondary'));
    }
    rows.push([
      'Revocation: other instances after the revoking one (propagation through Redis), p99',
      `${number(revocation.afterRevokerMs.p99, 1)} ms (p50 ${number(revocation.afterRevokerMs.median, 1)}, n=${revocation.afterRevokerMs.n})`,
      `(≤ ${TARGETS.revocationP99Ms} ms)`,
      verdict(revocation.afterRevokerMs.p99 <= TARGETS.revocationP99Ms),
    ]);
    rows.push([
      'Revocation: requests accepted after the revoke call returned',
      String(revocation.acceptedAfterReturn),
      '0',
      verdict(revocation.acceptedAfterReturn === 0),
    ]);
    rows.push(...narrowingRows(revocation));
  }
  if (cold) {
    rows.push([
      `Scale: cold check with ${cold.scale.largeKeys.toLocaleString('en-US')} ÷ ${cold.scale.smallKeys.toLocaleString('en-US')} keys`,
      spread(cold.scale.ratio, 2),
      '—',
      '',
    ]);
  }
  const memory = results.sections.memory.result;
  if (memory) rows.push(['In-process cache: heap per 100 k cached keys', spread(memory.mibPer100k, 1, 'MiB'), '—', '']);
  const usage = results.sections.usage.result;
  if (usage) {
    rows.push([
      `Usage tracking: throughput on ÷ off${usage.implemented ? '' : ' — **not yet implemented**'}`,
      spread(usage.onVersusOff.ratio, 3),
      '—',
      '',
    ]);
  }
  rows.push(...rateLimitsSummaryRows(results));
  return rows;
}

/** The restricted keys' throughput against `/open`, the target each, and their CPU ratio beside it. */
function restrictedHotPathRows(hot: HotPathResult): string[][] {
  return (Object.keys(RESTRICTED_SHORT) as RestrictedVariant[]).flatMap((variant) => {
    const versus = hot.versusOpen[variant];
    if (!versus) return [];
    const target = RESTRICTED_TARGETS[variant];
    return [
      [
        `Hot path, ${RESTRICTED_SHORT[variant]}: throughput, keyward ÷ open`,
        spread(versus.ratio, 3),
        `≥ ${target}`,
        verdict(versus.ratio.median >= target),
      ],
      [
        `… server CPU per request, open ÷ keyward (${RESTRICTED_SHORT[variant]})`,
        spread(versus.cpuRatio, 3),
        `(≥ ${target})`,
        verdict(versus.cpuRatio.median >= target),
      ],
    ];
  });
}

/** `value` as a multiple of `floor`. */
function times(value: number, floor: number): string {
  return `${number(value / floor, 1)}×`;
}

/** The narrowing PATCH against its target, and both changes as multiples of the floor measured beside them. */
function narrowingRows(r: RevocationResult): string[][] {
  const rows: string[][] = [];
  const narrowing = r.narrowing;
  if (narrowing) {
    rows.push(
      p99TargetRow(
        'Narrowing PATCH → first 403 insufficient_scope, p99 over instances × narrowings',
        narrowing.firstRefusalMs,
        TARGETS.revocationP99Ms,
      ),
      p99TargetRow(
        "… without each instance's first narrowing (warm instances)",
        narrowing.warm.firstRefusalMs,
        TARGETS.revocationP99Ms,
        'secondary',
      ),
      [
        'Narrowing: requests still accepted after the PATCH returned',
        String(narrowing.acceptedAfterReturn),
        '0',
        verdict(narrowing.acceptedAfterReturn === 0),
      ],
    );
  }
  const floor = r.floor;
  if (floor) {
    const f = floor.floorMs;
    rows.push([
      'Floor: one Postgres commit + one Redis round trip (same run)',
      `${number(f.median, 2)} ms p50, ${number(f.p99, 2)} ms p99 (n=${f.n})`,
      '—',
      '',
    ]);
    const multiple = (figure: string, first: WithP99) =>
      rows.push([figure, `${times(first.median, f.median)} at p50, ${times(first.p99, f.p99)} at p99`, '—', '']);
    multiple('Revocation → first rejection, as a multiple of the floor', r.firstRejectionMs);
    if (narrowing) multiple('Narrowing → first 403, as a multiple of the floor', narrowing.firstRefusalMs);
  }
  return rows;
}

/** The restricted variants this result has (older results lack the newer ones). */
function measuredRestricted(hot: HotPathResult): RestrictedVariant[] {
  return RESTRICTED_VARIANTS.filter((variant) => hot.versusOpen[variant] !== undefined);
}

function hotPathSection(results: BenchResults): string {
  const outcome = results.sections.hotPath;
  if (!outcome.result) return failed('The hot-path section', outcome);
  const hot = outcome.result;
  const names: Array<[string, HotVariant | RestrictedVariant | PeerVariant]> = [
    ...(Object.keys(VARIANT_NAMES) as HotVariant[]).map((variant): [string, HotVariant] => [
      VARIANT_NAMES[variant],
      variant,
    ]),
    ...(Object.keys(RESTRICTED_NAMES) as RestrictedVariant[])
      .filter((variant) => hot.variants[variant])
      .map((variant): [string, RestrictedVariant] => [RESTRICTED_NAMES[variant], variant]),
    ...(Object.keys(PEER_NAMES) as PeerVariant[])
      .filter((variant) => hot.variants[variant])
      .map((variant): [string, PeerVariant] => [PEER_NAMES[variant], variant]),
  ];
  const variantRows = names.map(([name, variant]) => {
    const v = hot.variants[variant]!;
    return [
      name,
      spread(v.requestsPerSec, 0),
      spread(v.serverCpuUs, 1),
      `${number(v.p50Ms.median, 3)} / ${number(v.p99Ms.median, 3)}`,
      `${number(v.loadedP50Ms.median, 2)} / ${number(v.loadedP99Ms.median, 2)}`,
      String(v.failures),
    ];
  });
  const compare = (name: string, versus: VersusOpen) => [
    name,
    spread(versus.ratio, 3),
    signed(versus.addedP50Ms, 3, 'ms'),
    signed(versus.addedP99Ms, 3, 'ms'),
    signed(versus.addedLoadedP99Ms, 3, 'ms'),
    signed(versus.addedServerCpuUs, 1, 'µs'),
    spread(versus.cpuRatio, 3),
  ];
  return `One server process (bench/servers/bench-server.ts) registers keyward's exported \`apiKeyAuth\` with connection
settings (keyward's defaults, listed above) and serves its routes with one and the same handler. autocannon runs in its own process.
Each round runs every route once with ${results.plan.load.throughputConnections} connections for
${results.plan.load.throughputSec} s (throughput, latency under load) and once with one connection for
${results.plan.load.latencySec} s (latency without queueing), rotating the order each round, after a
${results.plan.load.warmupSec} s warm-up per route. Ratios and differences are taken within each round.
"Server CPU" is the server process's CPU time per answered request during the saturating run (from /proc, 10 ms
ticks): it depends far less than throughput on how much of the shared cores the server was given, though contention
still inflates it somewhat.

${table(['route', 'req/s', 'server CPU per request (µs)', 'p50 / p99, 1 connection (ms)', 'p50 / p99 under load (ms)', 'non-2xx'], variantRows)}

Against \`/open\`, within each round:

${table(
  [
    'route',
    'throughput ratio',
    'added p50 (1 conn.)',
    'added p99 (1 conn.)',
    'added p99 (under load)',
    'added server CPU',
    'CPU ratio (open ÷ route)',
  ],
  [
    compare('keyward', hot.versusOpen.secured),
    ...(Object.keys(RESTRICTED_SHORT) as RestrictedVariant[]).flatMap((variant) => {
      const versus = hot.versusOpen[variant];
      return versus ? [compare(`keyward, ${RESTRICTED_SHORT[variant]}`, versus)] : [];
    }),
    compare('in-memory key set', hot.versusOpen.set),
    compare('Redis GET per request', hot.versusOpen.redisGet),
    ...(hot.versusOpen.betterAuth ? [compare('better-auth api-key', hot.versusOpen.betterAuth)] : []),
  ],
)}
${
  hot.versusOpen.scoped
    ? `
The restricted keys (inserted with \`scopes\` / \`allowed_networks\`${hot.versusOpen.limited ? ' / `rate_limit_requests`' : ''} set) go through the same cached check; on each
request the plugin compares the route's scopes with the key's (a set lookup), the authenticator asks the key's compiled
address test (its answer for a client address is remembered)${hot.versusOpen.limited ? ' and admits the limited key from a batch reserved in Redis ([rate limits](#rate-limits-across-the-fleet))' : ''}.
Targets: ≥ ${TARGETS.restrictedHotPathRatio}× \`/open\`'s throughput for the scoped and allowed-networks keys, like the plain key's
stretch target${hot.versusOpen.limited ? `, ≥ ${LIMITED_HOT_PATH_RATIO}× for the limited key (issue #26)` : ''}: ${measuredRestricted(
        hot,
      )
        .map((variant) => {
          const ratio = hot.versusOpen[variant]!.ratio.median;
          return `${RESTRICTED_SHORT[variant]} ${number(ratio, 3)}× (${verdict(ratio >= RESTRICTED_TARGETS[variant])})`;
        })
        .join(', ')}; the plain key ${number(hot.versusOpen.secured.ratio.median, 3)}× in the same rounds.
`
    : ''
}${hot.peersSkipped ? `\nbetter-auth was not measured in this run: ${hot.peersSkipped}\n` : ''}
argon2 verifications in the server during these runs: ${hot.argon2Verifications} (${
    hot.versusOpen.scoped
      ? `the plain key was checked once, cold, before the count began; the ${measuredRestricted(hot).length} restricted keys once each, cold, after it, before the runs: ${measuredRestricted(hot).length} expected, more would mean a key was checked again under load`
      : 'the key was checked once, cold, before the runs'
  }).
`;
}

function coldSection(results: BenchResults): string {
  const outcome = results.sections.cold;
  if (!outcome.result) return failed('The cold-check section', outcome);
  const cold = outcome.result;
  return `One request at a time on an otherwise idle server, over a kept-alive connection, timed by the client
(bench/lib/http-connection.ts). Keys are real (generated with \`generateKey\`, hashed with argon2id at keyward's
default cost m=${cold.argon2.memoryKib} KiB, t=${cold.argon2.timeCost}, p=${cold.argon2.parallelism}); each sample uses a key
no process has seen. The first sample of each kind is a warm-up and is dropped.

${table(
  ['check', 'latency'],
  [
    ['`/open` on the same connection (the floor)', spread(cold.openMs, 3, 'ms')],
    ['cached key, same instance (in-process tier)', spread(cold.memoryHitMs, 3, 'ms')],
    [
      'key hot in Redis, first time in this instance (warmed through another process)',
      spread(cold.redisHotMs, 2, 'ms'),
    ],
    ['key in no instance and not in Redis: Postgres + argon2id', spread(cold.postgresArgon2Ms, 1, 'ms')],
  ],
)}

argon2 verifications in the second process during the Redis-hot samples: ${cold.redisHotArgon2Verifications} (0 means every one of
them was answered from Redis).

`;
}

function scaleSection(results: BenchResults): string {
  const outcome = results.sections.cold;
  if (!outcome.result) return failed('The cold-check section (which measures scale too)', outcome);
  const s = outcome.result.scale;
  return `Two databases, identical but for ${results.plan.cold.smallRows.toLocaleString('en-US')} vs
${results.plan.cold.largeRows.toLocaleString('en-US')} filler keys bulk-inserted with \`generate_series\` (dummy
secret_hash; the measured keys are real), one server each, sampled alternately. The large table's filler took
${number(s.largeFillerInsertMs / 1000, 1)} s to insert.

${table(
  ['check', `${s.smallKeys.toLocaleString('en-US')} keys`, `${s.largeKeys.toLocaleString('en-US')} keys`],
  [
    [
      'Postgres + argon2id (valid key)',
      spread(s.postgresArgon2Ms.small, 1, 'ms'),
      spread(s.postgresArgon2Ms.large, 1, 'ms'),
    ],
    [
      'unknown key id (one primary-key read, no argon2; answers 401)',
      spread(s.unknownIdMs.small, 2, 'ms'),
      spread(s.unknownIdMs.large, 2, 'ms'),
    ],
  ],
)}

Large ÷ small, per pair of samples: ${spread(s.ratio, 2)}.
`;
}

const CHECK_CASES = {
  cachedValid: 'cached valid key',
  cachedRevoked: 'cached revoked key',
  wrongSecret: 'wrong secret for a cached id',
  mistyped: 'cached key with a character changed (checksum fails)',
  malformed: 'malformed key (right length, checksum fails)',
} as const;

function checkCostSection(results: BenchResults): string {
  const outcome = results.sections.checkCost;
  if (!outcome) return 'Not measured in this run.\n';
  if (!outcome.result) return failed('The check-cost section', outcome);
  const cost = outcome.result;
  return `A \`KeyChecker\` and an \`ApiKeyAuthenticator\` with a warm in-process cache in a process of their own
(bench/lib/check-cost.ts), no I/O on these paths: CPU time (user + system) of ${cost.callsPerRepetition.toLocaleString('en-US')}
calls per repetition, each with a fresh flat header string as Node's HTTP parser hands them over. \`authenticate\` adds the
failed-check limiter, the choice of answer and usage counting. The wrong-secret case runs limited after the 100th
failure, as a real guesser would.

${table(
  ['key presented', 'ns per check()', 'ns per authenticate()'],
  (Object.keys(CHECK_CASES) as Array<keyof typeof CHECK_CASES>).map((name) => [
    CHECK_CASES[name],
    spread(cost.check[name], 0),
    spread(cost.authenticate[name], 0),
  ]),
)}
`;
}

function memorySection(results: BenchResults): string {
  const outcome = results.sections.memory;
  if (!outcome.result) return failed('The memory section', outcome);
  const memory = outcome.result;
  return `A \`KeyCache\` (packages/member/src/key-cache.ts) filled with ${memory.entries.toLocaleString('en-US')} realistic entries
in a separate \`node --expose-gc\` process (bench/lib/cache-memory.ts): the id as \`parseKey\` returns it from a presented
key, the SHA-256 digest, a UUID account id, status, epoch and timestamps (every tenth with an expiry). Heap used is read
after full collections before and after.

${table(
  ['entries built', 'bytes per cached key', 'per 100 k keys'],
  [
    ['as KeyChecker stores them', spread(memory.bytesPerKey, 0), spread(memory.mibPer100k, 1, 'MiB')],
    ['same, key id copied into its own string', spread(memory.flatIdsBytesPerKey, 0), '–'],
  ],
)}

${
  memory.retainedByIdSliceBytes > 40
    ? `The ${number(memory.retainedByIdSliceBytes, 0)}-byte difference is the presented key itself: \`parseKey\` returns the id as
\`value.slice(…)\`, which V8 keeps as a "sliced string" pointing into the whole \`x-api-key\` value, so every cached
entry keeps the full key — secret included — alive in the heap for as long as it is cached.`
    : 'Copying the id makes no measurable difference here.'
}
`;
}

const FLOOD_NAMES = {
  malformed: 'malformed keys',
  unknown: 'well-formed keys, unknown ids',
  control: 'control: the valid key, same rate',
} as const;

function floodSection(results: BenchResults): string {
  const outcome = results.sections.flood;
  if (!outcome.result) return failed('The flood section', outcome);
  const flood = outcome.result;
  const statuses = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([status, count]) => `${count.toLocaleString('en-US')} × ${status}`)
      .join(', ') || '–';
  const cpu = (shares: { server: number; validLoad: number; flood: number }) =>
    `${Math.round(shares.server * 100)}% / ${Math.round(shares.validLoad * 100)}% / ${Math.round(shares.flood * 100)}%`;
  const rows = (limiter: LimiterResult) => [
    [
      'no flood',
      spread(limiter.noFlood.validRequestsPerSec, 0),
      '1',
      '–',
      '–',
      '–',
      String(limiter.noFlood.argon2Verifications),
      cpu(limiter.noFlood.cpu),
    ],
    ...(['malformed', 'unknown', 'control'] as const).map((kind) => {
      const phase = limiter[kind];
      return [
        FLOOD_NAMES[kind],
        spread(phase.validRequestsPerSec, 0),
        spread(phase.ratio, 2),
        kind === 'control' ? '1' : spread(phase.versusControl, 2),
        `${number(phase.floodRate.median, 0)}/s`,
        statuses(phase.floodStatuses),
        String(phase.argon2Verifications),
        cpu(phase.cpu),
      ];
    }),
  ];
  const header = [
    'flood',
    'valid req/s',
    'valid ÷ no flood',
    'valid ÷ control flood',
    'flood rate',
    'answers to the flood',
    'argon2 verifications',
    'CPU: server / valid load / flood',
  ];
  return `Valid-key load on \`/secured\` (autocannon, ${results.plan.load.throughputConnections} connections, from ${flood.validAddress})
while a second load generator (bench/lib/flood-worker.ts, ${flood.floodConnections} connections, from ${flood.floodAddress}
so that the limiter can tell the two apart) sends bad keys at a fixed ${flood.floodRate.toLocaleString('en-US')}/s, starting
before and ending after each ${results.plan.flood.durationSec} s measurement. Malformed keys come in five shapes (noise of
the right length, a real key with a wrong checksum, another prefix, too short, too long); unknown ids are real-format keys
from \`generateKey\`, a fresh id each request (so the negative cache never helps). The control flood sends the valid key at
the same rate from the same generator (from 127.0.0.3: the limiter at its default has blocked the flood's address by
then and would refuse any key from it): on ${results.machine.cpus} shared cores any extra requests, and the generator
itself, take CPU from the server and the valid load alike, so "÷ control" is what the bad keys cost beyond that.
argon2 verifications are counted in the server process by wrapping \`SecretHasher.prototype.verify\`. "CPU" is each
process's share of one core during the measurement.

**Limiter at its default** (${flood.limiters.default.description}):

${table(header, rows(flood.limiters.default))}

**Limiter effectively off** (${flood.limiters.off.description}):

${table(header, rows(flood.limiters.off))}

Valid requests that failed during floods: ${Object.values(flood.limiters).reduce(
    (sum, limiter) =>
      sum + limiter.malformed.validFailures + limiter.unknown.validFailures + limiter.control.validFailures,
    0,
  )}.
`;
}

type WithP99 = Summary & { p99: number };

/** A change's figures in its table (a revocation's, older than the narrowing's, are named after it in results). */
type Propagation = Pick<
  PropagationFigures,
  'firstRefusalMs' | 'callerFirstRefusalMs' | 'afterCallerMs' | 'callMs' | 'firstRefusalAnswerMs'
> & {
  warm?: PropagationFigures['warm'];
};

/**
 * The rows of a change's table (revocation or narrowing): `call` names the call, `refusal` what the instances
 * answer after it, `change` the kind of change, `caller` the instance that handled it.
 */
function propagationRows(
  words: { call: string; refusal: string; change: string; caller: string },
  f: Propagation,
): string[][] {
  const withoutFirst = `without each instance's first ${words.change}`;
  return [
    percentileRow(`${words.call} → ${words.refusal}, every instance`, f.firstRefusalMs),
    [
      '… on the instance that handled the call',
      number(f.callerFirstRefusalMs.median, 1),
      '–',
      number(f.callerFirstRefusalMs.max, 1),
      String(f.callerFirstRefusalMs.n),
    ],
    percentileRow(`other instances after the ${words.caller} (propagation through Redis)`, f.afterCallerMs),
    percentileRow(`${words.call} duration`, f.callMs),
    ...(f.firstRefusalAnswerMs
      ? [percentileRow(`answer time of the request that brought the ${words.refusal}`, f.firstRefusalAnswerMs)]
      : []),
    ...(f.warm
      ? [
          percentileRow(`${words.call} → ${words.refusal}, every instance, ${withoutFirst}`, f.warm.firstRefusalMs),
          percentileRow(`${words.call} duration, ${withoutFirst}`, f.warm.callMs),
        ]
      : []),
  ];
}

/**
 * Why a narrowing is slower than a revocation, from the answer times of the first refusals: a revocation reaches
 * the caches as a status, an \`updated\` event makes every instance read the key's restriction again.
 */
function narrowingCause(r: RevocationResult): string {
  const narrowed = r.narrowing?.firstRefusalAnswerMs;
  const revoked = r.firstRejectionAnswerMs;
  if (!narrowed || !revoked) return '';
  return `
The request that brought an instance's first 403 took ${number(narrowed.median, 1)} ms to answer (p50; p99 ${number(narrowed.p99, 1)} ms),
against ${number(revoked.median, 1)} ms (p99 ${number(revoked.p99, 1)} ms) for a revocation's first 401. A revocation reaches every
instance's cache as a status (later requests cost nothing); an \`updated\` event keeps the cached digest (so no argon2)
but believes the entry in no epoch and deletes its Redis hot-set entry (keywardAnnounce in src/fleet/fleet-protocol.ts),
so each instance's next request reads the key's new restriction from Postgres (all ${r.instances} at once, on these shared
cores) before it can answer 403. Sending the new restriction in the event itself would spare that read.
`;
}

/** The narrowing's table and the floor's, with both changes as multiples of the floor. */
function narrowingAndFloor(r: RevocationResult): string {
  const n = r.narrowing;
  const floor = r.floor;
  if (!n || !floor)
    return '\n_Narrowing and the floor: not measured in this run (the measurement is newer than these results)._\n';
  const f = floor.floorMs;
  const multiples = (figure: string, summary: WithP99) => [
    figure,
    times(summary.median, f.median),
    times(summary.p99, f.p99),
    times(summary.max, f.max),
  ];
  return `
### Narrowing a key's scopes

Alternating with the revocations, on the same instances: ${n.narrowings} times, a fresh key with scopes
${n.scopesBefore.map((scope) => `\`${scope}\``).join(' and ')} is polled on every instance with forward auth's \`GET /v1/verify\` asking for
\`x-keyward-required-scopes: ${n.scopesBefore.filter((scope) => !n.scopesAfter.includes(scope)).join(' ')}\` (204 while the key has it) while
\`PATCH /v1/keys/{id}\` narrows it to ${n.scopesAfter.map((scope) => `\`${scope}\``).join(', ')} through one instance (a different one each time), until every
instance answers 403 \`insufficient_scope\`. Same target as a revocation: p99 ≤ ${TARGETS.revocationP99Ms} ms on ${r.instances} instances
(${verdict(n.firstRefusalMs.p99 <= TARGETS.revocationP99Ms)}: ${number(n.firstRefusalMs.p99, 1)} ms; warm instances ${number(n.warm.firstRefusalMs.p99, 1)} ms, ${verdict(n.warm.firstRefusalMs.p99 <= TARGETS.revocationP99Ms)}).

${table(
  ['figure', 'p50', 'p99', 'max', 'n'],
  propagationRows(
    { call: 'PATCH', refusal: 'first 403 insufficient_scope', change: 'narrowing', caller: 'instance that handled it' },
    n,
  ),
)}

- Requests sent after the PATCH returned and still accepted: **${n.acceptedAfterReturn}** (of ${n.totalPolls.toLocaleString('en-US')} polls in all; median poll gap ${number(n.pollGapMs, 2)} ms).
- Requests accepted while the PATCH was in flight (allowed): ${n.acceptedDuringCall}.
- Other answers than 204 and 403 \`insufficient_scope\`: ${Object.keys(n.unexpectedStatuses).length === 0 ? 'none' : JSON.stringify(n.unexpectedStatuses)}.
${narrowingCause(r)}
### The floor

What any change that every instance must see costs at the least: one Postgres commit (a one-row \`UPDATE\`, committed
on its own, in the bench database) then one Redis round trip (a \`PUBLISH\`), one after the other, from the bench process
over kept-alive connections. A revoke or PATCH call does more than that (its session is checked, the key read and
locked, a key event and an audit row written in the transaction, and every instance's acknowledgement awaited through
Redis), and an instance's first refusal is seen only at its next poll. Sampled ${f.n / (r.revocations + n.narrowings)} times before each recorded revoke and PATCH call,
while the instances were being polled, so in the same conditions as the calls.

${table(
  ['figure', 'p50', 'p99', 'max', 'n'],
  [
    percentileRow('floor: Postgres commit + Redis round trip', f),
    percentileRow('… the Postgres commit', floor.postgresCommitMs),
    percentileRow('… the Redis round trip', floor.redisRoundTripMs),
  ],
)}

As multiples of the floor (p50 ÷ floor p50, p99 ÷ floor p99, max ÷ floor max):

${table(
  ['figure', 'p50', 'p99', 'max'],
  [
    multiples('revoke call → first rejection, every instance', r.firstRejectionMs),
    multiples('PATCH → first 403 insufficient_scope, every instance', n.firstRefusalMs),
    multiples('revoke call duration', r.revokeCallMs),
    multiples('PATCH duration', n.callMs),
  ],
)}
`;
}

/** A row of the revocation table: figure, p50, p99, max, n (ms). */
function percentileRow(figure: string, summary: WithP99): string[] {
  return [figure, number(summary.median, 1), number(summary.p99, 1), number(summary.max, 1), String(summary.n)];
}

/**
 * A row of the targets table for a p99 in ms against `≤ target`; a secondary row (a breakdown of the one
 * above it) shows its target in parentheses.
 */
function p99TargetRow(figure: string, summary: WithP99, target: number, kind?: 'secondary'): string[] {
  const limit = `≤ ${target} ms`;
  return [
    figure,
    `${number(summary.p99, 1)} ms (p50 ${number(summary.median, 1)}, max ${number(summary.max, 1)}, n=${summary.n})`,
    kind === 'secondary' ? `(${limit})` : limit,
    verdict(summary.p99 <= target),
  ];
}

function revocationSection(results: BenchResults): string {
  const outcome = results.sections.revocation;
  if (!outcome.result) return failed('The revocation section', outcome);
  const r = outcome.result;
  return `${rerunNote(outcome, 'revocation')}${r.instances} keyward instances (\`node --import tsx src/server.ts\`, as test/support/server-process.ts starts them) on the
bench database and one Redis prefix. For each of ${r.revocations} revocations: a fresh key is created, accepted by every
instance, then polled on every instance (one request at a time per instance, about every millisecond) while it is
revoked through one instance (a different one each time, \`DELETE /v1/keys/{id}\`). Times run from sending the revoke
call to *receiving* an instance's first rejection, so they are upper bounds: the instance stopped accepting somewhat
earlier (median gap between two polls of an instance: ${number(r.pollGapMs, 2)} ms).

${table(
  ['figure', 'p50', 'p99', 'max', 'n'],
  propagationRows(
    { call: 'revoke call', refusal: 'first rejection', change: 'revocation', caller: 'revoker' },
    {
      firstRefusalMs: r.firstRejectionMs,
      callerFirstRefusalMs: r.revokerFirstRejectionMs,
      afterCallerMs: r.afterRevokerMs,
      callMs: r.revokeCallMs,
      firstRefusalAnswerMs: r.firstRejectionAnswerMs,
      warm: r.warm && { firstRefusalMs: r.warm.firstRejectionMs, callMs: r.warm.revokeCallMs },
    },
  ),
)}
${
  r.warm
    ? `
An instance's first revocation runs code paths and statements that process (and its pool's connections) had not run yet (the
first ${r.instances - 1} revocations are the first through instances 1–${r.instances - 1}; instance 0's was the unrecorded warm-up), so the
figures are given with and without them.
`
    : ''
}
- Requests sent after the revoke call returned and still accepted: **${r.acceptedAfterReturn}** (of ${r.totalPolls.toLocaleString('en-US')} polls in all).
- Requests accepted while the call was in flight (allowed): ${r.acceptedDuringCall}.
- Other answers than 200/401: ${Object.keys(r.unexpectedStatuses).length === 0 ? 'none' : JSON.stringify(r.unexpectedStatuses)}.
${narrowingAndFloor(r)}`;
}

function fleetScaleSection(results: BenchResults): string {
  const outcome = results.sections.fleetScale;
  if (!outcome) return '_Not measured in this run (the section is newer than these results)._\n';
  if (!outcome.result) return failed('The fleet-scale section', outcome);
  const r = outcome.result;
  const kib = (bytes: number) => number(bytes / 1024, 1);
  return `${rerunNote(outcome, 'fleetScale')}Simulated members, each the real \`RedisFleetSync\` an instance runs (three Redis connections, its
lease renewed every ${number(r.leaseMs / 6, 0)} ms, the events subscription, acknowledgements; no HTTP server, no
Postgres), spread over ${r.memberProcesses} processes (bench/lib/fleet-members.ts), on a redis-server of the section's
own. _At rest_: ${r.restWindowSec} s with no key changes, so only leases and heartbeats (each heartbeat is one script
of four commands, all counted). _announce_: one more member
announces a revocation (one script that marks and publishes, then every member's acknowledgement): the fleet part of
a revoke call, which adds it to the Postgres transaction (section 4). Redis, the members and this process share the
machine's ${results.machine.cpus} cores.

${table(
  [
    'members',
    'Redis commands/s at rest',
    'Redis CPU at rest',
    'Redis memory per member',
    'member heap per member',
    'announce p50 / p99 / max (ms)',
    'start',
  ],
  r.rows.map((row) => [
    row.members.toLocaleString('en-US'),
    `${number(row.restCommandsPerSecond, 0)} (${number(row.restCommandsPerSecond / row.members, 1)} per member)`,
    `${number(row.restRedisCpuPercent, 1)}% of a core`,
    `${kib(row.redisBytesPerMember)} KiB`,
    `${kib(row.heapBytesPerMember)} KiB`,
    `${number(row.announce.p50, 1)} / ${number(row.announce.p99, 1)} / ${number(row.announce.max, 1)} (n=${row.announce.count})`,
    `${number(row.startSeconds, 1)} s`,
  ]),
)}
`;
}

function usageSection(results: BenchResults): string {
  const outcome = results.sections.usage;
  if (!outcome.result) return failed('The usage section', outcome);
  const usage = outcome.result;
  const row = (name: string, v: typeof usage.on) => [
    name,
    spread(v.requestsPerSec, 0),
    spread(v.serverCpuUs, 1),
    `${number(v.p50Ms.median, 3)} / ${number(v.p99Ms.median, 3)}`,
  ];
  return `${
    usage.implemented
      ? ''
      : '> **Usage tracking not yet implemented**: `loadEnv` in src/config/env.ts has no `KEYWARD_USAGE_TRACKING`, so both servers below\n> run identical code and this measures only the noise between two processes.\n\n'
  }Two server processes, \`settings: { KEYWARD_USAGE_TRACKING: 'true' }\` and \`'false'\`, \`/secured\` with a cached key,
interleaved as in section 1.

${table(
  ['configuration', 'req/s', 'server CPU per request (µs)', 'p50 / p99, 1 connection (ms)'],
  [row("KEYWARD_USAGE_TRACKING='true'", usage.on), row("KEYWARD_USAGE_TRACKING='false'", usage.off)],
)}

On ÷ off within each round: throughput ${spread(usage.onVersusOff.ratio, 3)}; added p99 (1 connection)
${signed(usage.onVersusOff.addedP99Ms, 3, 'ms')}; added server CPU ${signed(usage.onVersusOff.addedServerCpuUs, 1, 'µs')} per request.
`;
}

function peersSection(): string {
  return `Their published figures and documented behaviour, as collected in the product brief (../shared/BRIEF.md).
**None of these was measured by this bench.**

${table(
  ['system', 'how keys are checked', 'how fast a revocation reaches every node'],
  [
    [
      'Unkey (open source)',
      'SHA-256 lookup, in-process cache',
      'no cross-node invalidation: 10 s fresh + up to 10 min stale per node',
    ],
    [
      'Kong key-auth',
      'per-node cache, DB polling',
      "`db_update_frequency`, default 5 s; Kong's own benchmark: key-auth costs ~13% throughput (≈ 0.87×)",
    ],
    ['Tyk', 'session cache', 'revoked keys keep working ~10 s (issue #2083, "wontfix")'],
    ['AWS API Gateway keys', 'managed', '~10 s; AWS says not to use keys for auth'],
    ['Zuplo', 'edge cache, checksum', '"replicates in seconds", 60 s TTL'],
    ['better-auth api-key', 'DB read + writes per verify', 'immediate, but every verify writes the database'],
  ],
)}

The brief also records an earlier probe on these 2-core machines (not this harness, not re-measured here): a hello-world
Fastify route ~100k req/s; SHA-256 + in-process Map ≈ 0.80×; a Redis GET per request ≈ 0.48×; argon2id per request
≈ 0.001× (argon2id at m=19 MiB, t=2, p=1 ~24 ms).
`;
}

function machineSection(results: BenchResults): string {
  const m = results.machine;
  const outcomes = Object.entries(results.sections).flatMap(([name, outcome]) => (outcome ? [{ name, outcome }] : []));
  const loads = outcomes.map(({ name, outcome }) => [
    outcome.rerun ? `${name} (rerun alone)` : name,
    `${number(outcome.seconds, 1)} s`,
    `${number(outcome.machineLoad.busyPercent, 0)}%`,
    `${number(outcome.machineLoad.loadAverageStart, 1)} → ${number(outcome.machineLoad.loadAverageEnd, 1)}`,
  ]);
  const busiest = Math.max(...outcomes.map(({ outcome }) => outcome.machineLoad.loadAverageEnd));
  return `- **Date**: ${m.date}; **duration**: ${number(results.durationSec, 0)} s (${results.mode} run); setup ${number(results.setup.seconds, 1)} s.
- **Machine**: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB RAM, ${m.os}. The load generator(s), the server(s),
  Postgres and Redis all share these ${m.cpus} cores: absolute throughput is what one core of server gets while the
  other runs the load generator, and is far below what the server would do on a machine of its own.
- **Versions**: Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; ${Object.entries(m.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}.
- **keyward**: commit ${m.git.commit}${m.git.uncommittedChangesInSrc > 0 ? ` plus ${m.git.uncommittedChangesInSrc} uncommitted changes under src/ and drizzle/ (work in progress at the time of the run)` : ''}.
- **keyward defaults in effect**: ${Object.entries(results.keywardDefaults)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(', ')}.
- **Cleanup**: ${results.cleanup.databasesDropped} bench databases dropped, ${results.cleanup.redisKeysDeleted} Redis keys deleted (${results.cleanup.redisKeysLeft} left).

How busy the machine was (the bench alone keeps about 2–3 processes runnable; a higher load average means other work
shared the machine and absolute figures are depressed — ratios, taken within rounds, hold better):

${table(['section', 'duration', 'machine busy', 'load average (1 min)'], loads)}
${
  busiest > BUSY_LOAD_AVERAGE
    ? `\n> The load average reached ${number(busiest, 1)} during this run: other processes were competing for the ${m.cpus} cores.\n`
    : ''
}`;
}

export function writeReport(results: BenchResults): string {
  const quick =
    results.mode === 'quick'
      ? '> **Quick run** (`npm run bench -- --quick`): fewer rounds, shorter runs and far fewer filler rows. A smoke test\n> of the harness, not figures to quote — run `npm run bench` for those.\n\n'
      : '';
  return `# keyward benchmarks

<!-- Generated by \`npm run bench\` (bench/run.ts) — do not edit by hand; rerun the bench instead. -->

${quick}Measured on one ${results.machine.cpus}-core machine against real Postgres and Redis, ${results.machine.date.slice(0, 10)}.
Raw figures: [bench/results.json](bench/results.json). Every figure is the **median [min – max] (n)** over repeated
runs; configurations are interleaved and ratios are computed within a round.

![throughput and latency per configuration](bench/throughput.svg)

## Against the targets

${table(['figure', 'measured', 'target', ''], summaryRows(results))}

## Machine, versions and method

${machineSection(results)}

## 1. Hot-path overhead

${hotPathSection(results)}

### CPU per check, in process

${checkCostSection(results)}
## 2. Cold checks

${coldSection(results)}
## 3. Bogus-key flood

${floodSection(results)}
## 4. Revocation propagation

${revocationSection(results)}
## 5. Scale

### Cold check with ${results.plan.cold.smallRows.toLocaleString('en-US')} vs ${results.plan.cold.largeRows.toLocaleString('en-US')} keys in Postgres

${scaleSection(results)}
### Memory of the in-process cache

${memorySection(results)}

## 6. Cost of usage counting

${usageSection(results)}

## 7. Installed size of the package

${packageSizeSection()}
## 8. The fleet at scale, simulated

${fleetScaleSection(results)}
## Rate limits across the fleet

${rateLimitsSection(results)}
## Peers (their figures, not measured here)

${peersSection()}
## Running it

\`npm run bench\` (a few minutes) or \`npm run bench -- --quick\` (a smoke test). It needs Postgres at
127.0.0.1:5432 (user postgres, trust) and Redis at 127.0.0.1:6379 (or \`BENCH_DATABASE_URL\` / \`BENCH_REDIS_URL\`),
creates its own databases (\`keyward_bench_<run>_*\`) and Redis prefix (\`keyward_bench:<run>:\`), and removes both at
the end, also on Ctrl-C. \`npm run bench -- --report\` rewrites this file and the chart from bench/results.json without
measuring again; \`npm run bench -- --only fleetScale\` (or \`revocation\`, \`rateLimits\`) reruns section 8 (or 4, or
the rate limits) alone into them. The first run installs the
peers it measures (better-auth) into bench/peers/node_modules from their own lockfile (\`npm ci --legacy-peer-deps\`);
without a registry it says so and measures the rest. CI does not run it; no test asserts on time.
`;
}
