/**
 * keyward's benchmark harness: `npm run bench` (a few minutes) or
 * `npm run bench -- --quick` (well under a minute).
 *
 * Runs on this machine against the local Postgres and Redis (override with
 * BENCH_DATABASE_URL / BENCH_REDIS_URL), in its own databases and Redis key
 * prefix, removed at the end (also on Ctrl-C). Writes bench/results.json,
 * bench/throughput.svg and BENCHMARKS.md.
 *
 * `npm run bench -- --report` only rewrites BENCHMARKS.md and the chart from
 * the existing bench/results.json (after a change to the report's wording).
 * `npm run bench -- --only fleetScale` (or `--only revocation`, `--only rateLimits`) reruns that one
 * section (none needs the shared bench servers) into the existing results, marked as a rerun.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { loadEnv } from '../src/config/env.js';
import { FULL_PLAN, QUICK_PLAN } from './config.js';
import {
  BenchEnvironment,
  defaultHasher,
  insertFiller,
  insertKeys,
  REDIS_URL,
  SCOPED_ROUTE_SCOPE,
  storeNaiveKeys,
} from './lib/environment.js';
import { startLoadGenerator, type LoadGenerator } from './lib/load.js';
import { describeMachine, startLoadWatch } from './lib/machine.js';
import { ROOT, stopAllChildren } from './lib/processes.js';
import { ServerPool } from './lib/servers.js';
import { writeReport } from './lib/report.js';
import { renderChart } from './lib/svg.js';
import { ensureInstalled, prepareBetterAuthKey } from './peers/better-auth.js';
import type { BenchResults, SectionOutcome } from './results.js';
import { runCheckCost } from './sections/check-cost.js';
import { runCold } from './sections/cold.js';
import { serverConfig, SERVERS, type BenchContext } from './sections/context.js';
import { runFleetScale } from './sections/fleet-scale.js';
import { runFlood } from './sections/flood.js';
import { runHotPath } from './sections/hot-path.js';
import { runMemory } from './sections/memory.js';
import { runRateLimits } from './sections/rate-limits.js';
import { runRevocation } from './sections/revocation.js';
import { runUsage } from './sections/usage.js';

const RELEVANT_SETTINGS = [
  'KEYWARD_CACHE_MAX_KEYS',
  'KEYWARD_CACHE_TTL_SECONDS',
  'KEYWARD_NEGATIVE_CACHE_TTL_SECONDS',
  'KEYWARD_LEASE_MS',
  'KEYWARD_REDIS_TIMEOUT_MS',
  'KEYWARD_ARGON2_MEMORY_KIB',
  'KEYWARD_ARGON2_TIME_COST',
  'KEYWARD_ARGON2_PARALLELISM',
  'KEYWARD_ARGON2_CONCURRENCY',
  'KEYWARD_ARGON2_QUEUE_MAX',
  'KEYWARD_FAILED_AUTH_LIMIT',
  'KEYWARD_FAILED_AUTH_WINDOW_SECONDS',
  'DATABASE_POOL_SIZE',
  'KEYWARD_USAGE_TRACKING',
];

const plan = process.argv.includes('--quick') ? QUICK_PLAN : FULL_PLAN;
const runStarted = performance.now();
const elapsed = () => ((performance.now() - runStarted) / 1000).toFixed(1).padStart(6);
const log = (section: string) => (line: string) => process.stderr.write(`[${elapsed()} s] ${section}: ${line}\n`);

const environment = new BenchEnvironment();
let cleanupResult: Promise<BenchResults['cleanup']> | undefined;
let load: LoadGenerator | undefined;
let servers: ServerPool | undefined;
/** Set on Ctrl-C: no further section starts while the cleanup runs. */
let aborting = false;

/** Once: stops the load generator, drops the databases, deletes the Redis keys, checks nothing is left. */
function cleanup(): Promise<BenchResults['cleanup']> {
  cleanupResult ??= (async () => {
    await servers?.stopAll();
    await load?.stop().catch(() => {});
    await stopAllChildren(); // anything else still running (keyward instances of an interrupted section)
    const removed = await environment.cleanup();
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    let redisKeysLeft = -1;
    try {
      await redis.connect();
      const [, keys] = await redis.scan('0', 'MATCH', `${environment.redisPrefix}*`, 'COUNT', 10_000);
      redisKeysLeft = keys.length;
    } finally {
      redis.disconnect();
    }
    await environment.close();
    return { ...removed, redisKeysLeft };
  })();
  return cleanupResult;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    aborting = true;
    process.stderr.write(`\n${signal}: cleaning up\n`);
    const force = setTimeout(() => process.exit(1), 15_000);
    void cleanup()
      .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`))
      .finally(() => {
        clearTimeout(force);
        process.exit(130);
      });
  });
}

async function section<T>(name: string, run: () => Promise<T>): Promise<SectionOutcome<T>> {
  const started = performance.now();
  const watch = startLoadWatch();
  if (aborting) return { seconds: 0, machineLoad: watch(), error: 'not run: the bench was interrupted' };
  log(name)('start');
  try {
    const result = await run();
    const machineLoad = watch();
    log(name)(
      `done in ${((performance.now() - started) / 1000).toFixed(1)} s; machine ${machineLoad.busyPercent.toFixed(0)}% busy, ` +
        `load average ${machineLoad.loadAverageEnd.toFixed(1)}`,
    );
    return { seconds: (performance.now() - started) / 1000, machineLoad, result };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(name)(`FAILED: ${message}`);
    return { seconds: (performance.now() - started) / 1000, machineLoad: watch(), error: message };
  }
}

const RESULTS_PATH = join(ROOT, 'bench', 'results.json');

function writeOutputs(results: BenchResults): void {
  writeFileSync(join(ROOT, 'bench', 'throughput.svg'), renderChart(results));
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), writeReport(results));
}

async function main(): Promise<number> {
  if (process.argv.includes('--report')) {
    writeOutputs(JSON.parse(readFileSync(RESULTS_PATH, 'utf8')) as BenchResults);
    log('report')('rewrote BENCHMARKS.md and bench/throughput.svg from bench/results.json');
    return 0;
  }
  const startedAt = new Date().toISOString();
  if (process.argv.includes('--only')) return rerunAlone(startedAt);
  log('setup')(`${plan.mode} run ${environment.runId}; Redis prefix ${environment.redisPrefix}`);
  const machine = await describeMachine();
  const setupStarted = performance.now();
  const databaseUrl = await environment.createDatabase('main');
  const smallFillerInsertMs = await insertFiller(databaseUrl, plan.cold.smallRows);
  const hasher = defaultHasher();
  const [hotKey, otherKey] = await insertKeys(databaseUrl, 2, hasher);
  const [scopedKey] = await insertKeys(databaseUrl, 1, hasher, { scopes: [SCOPED_ROUTE_SCOPE] });
  const [networksKey] = await insertKeys(databaseUrl, 1, hasher, { allowedNetworks: ['127.0.0.0/8'] });
  const [limitedKey] = await insertKeys(databaseUrl, 1, hasher, { rateLimit: plan.rateLimits.farLimit });
  await storeNaiveKeys(environment.prefix('naive'), [hotKey!, otherKey!]);
  const peers = ensureInstalled();
  let betterAuthDatabaseUrl: string | undefined;
  let betterAuth: BenchContext['betterAuth'];
  if (peers.installed) {
    betterAuthDatabaseUrl = await environment.createDatabase('better_auth', { migrate: false });
    betterAuth = { key: await prepareBetterAuthKey(betterAuthDatabaseUrl, environment.secret) };
  } else {
    betterAuth = { skipped: peers.reason };
    log('setup')(`better-auth not measured: ${peers.reason}`);
  }
  load = await startLoadGenerator();
  servers = new ServerPool((spec) =>
    serverConfig(environment, databaseUrl, [otherKey!, hotKey!], spec, betterAuthDatabaseUrl),
  );
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  log('setup')(`done in ${setupSeconds.toFixed(1)} s`);

  const context: BenchContext = {
    plan,
    env: environment,
    databaseUrl,
    hotKey: hotKey!,
    otherKey: otherKey!,
    restrictedKeys: { scoped: scopedKey!, networks: networksKey!, limited: limitedKey! },
    load,
    servers,
    betterAuth,
    log,
  };
  const memory = await section('memory', () => runMemory(context));
  const checkCost = await section('check cost', () => runCheckCost(context));
  // The servers of the three load sections start together (in parallel, once); each is stopped
  // as soon as no later section needs it. Idle, a server only renews its lease (a few Redis calls a second).
  const starting = performance.now();
  await servers.start(SERVERS.default, SERVERS.usageOn, SERVERS.usageOff, SERVERS.limiterOff);
  log('servers')(`4 bench servers started in ${((performance.now() - starting) / 1000).toFixed(1)} s`);
  const hotPath = await section('hot path', () => runHotPath(context));
  const usage = await section('usage', () => runUsage(context));
  await servers.stop(SERVERS.usageOn.name, SERVERS.usageOff.name);
  const flood = await section('flood', () => runFlood(context));
  await servers.stop(SERVERS.default.name);
  const cold = await section('cold', () => runCold(context));
  await servers.stopAll();
  const revocation = await section('revocation', () => runRevocation(context));
  const fleetScale = await section('fleet scale', () => runFleetScale(context));
  const rateLimits = await section('rate limits', () => runRateLimits(context));
  const sections = { memory, checkCost, hotPath, usage, flood, cold, revocation, fleetScale, rateLimits };

  const defaults = loadEnv({}) as Record<string, unknown>;
  const results: BenchResults = {
    schema: 'keyward-bench/1',
    mode: plan.mode,
    startedAt,
    durationSec: 0,
    machine,
    plan,
    keywardDefaults: Object.fromEntries(
      RELEVANT_SETTINGS.filter((name) => name in defaults).map((name) => [name, defaults[name]]),
    ),
    setup: { seconds: setupSeconds, smallFillerInsertMs },
    sections,
    cleanup: await cleanup(),
  };
  results.durationSec = (performance.now() - runStarted) / 1000;

  writeFileSync(RESULTS_PATH, JSON.stringify(results, null, 2) + '\n');
  writeOutputs(results);
  log('done')(
    `wrote bench/results.json, bench/throughput.svg and BENCHMARKS.md in ${results.durationSec.toFixed(0)} s ` +
      `(dropped ${results.cleanup.databasesDropped} databases, deleted ${results.cleanup.redisKeysDeleted} Redis keys)`,
  );
  return Object.values(sections).some((outcome) => outcome.error) ? 1 : 0;
}

const RERUNNABLE = ['fleetScale', 'revocation', 'rateLimits'] as const;
type RerunnableSection = (typeof RERUNNABLE)[number];

/**
 * `--only fleetScale`, `--only revocation` or `--only rateLimits`: one section that needs none of the shared
 * bench servers (revocation and rate limits start their own instances on a fresh bench database), rerun into
 * the existing results.
 */
async function rerunAlone(startedAt: string): Promise<number> {
  const name = process.argv[process.argv.indexOf('--only') + 1];
  if (!RERUNNABLE.includes(name as RerunnableSection)) {
    throw new Error(`--only takes: ${RERUNNABLE.join(', ')} (got ${String(name)})`);
  }
  const results = JSON.parse(readFileSync(RESULTS_PATH, 'utf8')) as BenchResults;
  const machine = await describeMachine();
  const rerun = { startedAt, commit: machine.git.commit };
  let failed: boolean;
  if (name === 'fleetScale') {
    const outcome = await section('fleet scale', () => runFleetScale({ plan, log }));
    results.sections.fleetScale = { ...outcome, rerun };
    results.plan.fleetScale = plan.fleetScale;
    failed = outcome.error !== undefined;
  } else if (name === 'revocation') {
    const databaseUrl = await environment.createDatabase('main');
    const context = { plan, env: environment, databaseUrl, log } as unknown as BenchContext;
    const outcome = await section('revocation', () => runRevocation(context));
    results.sections.revocation = { ...outcome, rerun };
    results.plan.revocation = plan.revocation;
    failed = outcome.error !== undefined;
  } else {
    const databaseUrl = await environment.createDatabase('main');
    // Its own load generator and bench server; the hot-path part runs with this plan's load settings.
    const outcome = await section('rate limits', () => runRateLimits({ plan, env: environment, databaseUrl, log }));
    results.sections.rateLimits = { ...outcome, rerun };
    results.plan.rateLimits = plan.rateLimits;
    failed = outcome.error !== undefined;
  }
  await cleanup();
  writeFileSync(RESULTS_PATH, JSON.stringify(results, null, 2) + '\n');
  writeOutputs(results);
  log('done')(`reran ${name} into bench/results.json, BENCHMARKS.md and bench/throughput.svg`);
  return failed ? 1 : 0;
}

main()
  .then((code) => process.exit(code))
  .catch(async (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanup().catch(() => {});
    process.exit(1);
  });
