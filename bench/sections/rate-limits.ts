/**
 * 9. Rate limits across the fleet (issue #26), as counts and ratios:
 *
 * (a) Accuracy: N keyward instances (src/server.ts, as section 4 starts them) on the bench database and one
 *     Redis prefix; a key with a limit of its own; load at a multiple of that limit's rate spread over the
 *     instances (GET /v1/verify, 204 admitted, 429 refused). Admitted answers are counted per window by arrival
 *     time; the window the load starts in and one more are warm-up. Admitted ÷ limit, per window.
 * (b) Cost: a key with a limit far above the load on the hot path, interleaved with `/open` and the plain key
 *     in one bench server, as section 1 measures its variants (bench/lib/load.ts).
 * (c) Redis scripts per admitted request, during (a) and (b): the limiter's own count of reservations (each one
 *     Lua script) — `keyward_rate_limit_reservations_total` from each instance's /metrics, the bench server's
 *     stats — over the requests admitted meanwhile. Redis' own command counts would mix in the leases and
 *     heartbeats of every fleet on this Redis.
 */
import { randomBytes } from 'node:crypto';
import type { BenchPlan } from '../config.js';
import { defaultHasher, insertKeys, REDIS_URL } from '../lib/environment.js';
import { HttpConnection } from '../lib/http-connection.js';
import {
  runInterleaved,
  runLoad,
  startLoadGenerator,
  summarizeVariant,
  throughputRatio,
  type LoadGenerator,
  type Variant,
  type VariantSummary,
} from '../lib/load.js';
import { startBenchServer, startKeyward, type RunningServer } from '../lib/servers.js';
import { summarize, type Summary } from '../lib/stats.js';
import { windowLoad } from '../lib/window-load.js';
import { serverConfig, type BenchContext } from './context.js';
import { compareWithBaseline, expectOk, type VersusOpen } from './hot-path.js';

interface Limit {
  requests: number;
  windowSeconds: number;
}

/** Rate-limit scripts run over requests admitted meanwhile. */
export interface ScriptsPerAdmitted {
  reservations: number;
  admitted: number;
  perAdmitted: number;
}

export interface RateLimitsResult {
  fleet: {
    instances: number;
    limit: Limit;
    /** Requests per second offered, all instances together, and as a multiple of the limit's rate. */
    offeredPerSec: number;
    loadFactor: number;
    /** Sent ÷ duration: below offeredPerSec when the instances fell behind. */
    sentPerSec: number;
    /** Admitted in each counted window, in order, and ÷ the limit. */
    admittedPerWindow: number[];
    admittedRatio: Summary;
    /** The accuracy the issue asks: between 95 % and 101 % (+1) of the limit, in every window. */
    lowestAllowed: number;
    highestAllowed: number;
    refused: number;
    unexpected: Record<string, number>;
    skipped: number;
    sentPerInstance: number[];
    /** Over the whole load, warm-up windows included. */
    scripts: ScriptsPerAdmitted;
    /** Instances reporting `keyward_rate_limits_degraded` 1 after the load (they admitted on their own share). */
    degradedInstances: number;
  };
  hotPath: {
    limit: Limit;
    /** The rounds and runs, as section 1's. */
    load: BenchPlan['load'];
    variants: { open: VariantSummary; secured: VariantSummary; limited: VariantSummary };
    limitedVersusOpen: VersusOpen;
    securedVersusOpen: VersusOpen;
    /** Throughput with the limit ÷ the same key check without one, within each round. */
    limitedVersusSecured: Summary;
    /** One more saturating run of the limited key, on its own. */
    scripts: ScriptsPerAdmitted & { durationSec: number };
    argon2Verifications: number;
  };
}

type RateLimitsContext = Pick<BenchContext, 'plan' | 'env' | 'databaseUrl' | 'log'> & { load?: LoadGenerator };

/** A counter or gauge of an instance's /metrics (the bench's token). */
async function metric(instance: RunningServer, token: string, name: string): Promise<number> {
  const connection = await HttpConnection.open({ port: instance.port });
  try {
    const response = await connection.request('GET', '/metrics', { authorization: `Bearer ${token}` });
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${response.body}`);
    const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(response.body)?.[1];
    if (value === undefined) throw new Error(`${name} is not in /metrics`);
    return Number(value);
  } finally {
    connection.close();
  }
}

const sumOf = (values: number[]) => values.reduce((sum, value) => sum + value, 0);

async function measureFleet(context: RateLimitsContext, apiKey: string): Promise<RateLimitsResult['fleet']> {
  const log = context.log('rate limits');
  const plan = context.plan.rateLimits;
  const metricsToken = randomBytes(24).toString('base64url');
  const env = {
    DATABASE_URL: context.databaseUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: context.env.prefix('rate-limits'),
    KEYWARD_SECRET: context.env.secret,
    KEYWARD_COOKIE_SECURE: 'false',
    KEYWARD_METRICS_TOKEN: metricsToken,
    // KEYWARD_RATE_LIMIT_TIMEOUT_MS stays at its default: a fallback to the per-instance share is reported below.
  };
  const instances = await Promise.all(
    Array.from({ length: plan.instances }, (_, i) => startKeyward(`rate-limits-${i}`, env)),
  );
  try {
    // One cold check per instance (argon2), before anything is counted.
    for (const instance of instances) {
      const connection = await HttpConnection.open({ port: instance.port });
      const response = await connection.request('GET', '/v1/verify', { 'x-api-key': apiKey });
      connection.close();
      if (response.status !== 204) throw new Error(`${instance.name}: /v1/verify answered ${response.status}`);
    }
    const reservations = () =>
      Promise.all(instances.map((instance) => metric(instance, metricsToken, 'keyward_rate_limit_reservations_total')));
    const before = await reservations();

    const windowMs = plan.windowSeconds * 1000;
    // The window the load starts in is partial, and the next is warm-up (connections, first batches).
    const firstCounted = Math.ceil(Date.now() / windowMs) + 1;
    const endAt = (firstCounted + plan.windows) * windowMs;
    const offeredPerSec = (plan.loadFactor * plan.requests) / plan.windowSeconds;
    log(
      `${plan.instances} instances, ${offeredPerSec} req/s offered for ${((endAt - Date.now()) / 1000).toFixed(1)} s`,
    );
    const load = await windowLoad({
      ports: instances.map((instance) => instance.port),
      connectionsPerInstance: plan.connectionsPerInstance,
      path: '/v1/verify',
      headers: { 'x-api-key': apiKey },
      rate: offeredPerSec,
      windowMs,
      admittedStatus: 204,
      refusedStatus: 429,
      endAt,
    });
    const after = await reservations();
    const degraded = await Promise.all(
      instances.map((instance) => metric(instance, metricsToken, 'keyward_rate_limits_degraded')),
    );

    const admittedPerWindow = Array.from(
      { length: plan.windows },
      (_, index) => load.admittedByWindow.get(firstCounted + index) ?? 0,
    );
    log(`admitted per window: ${admittedPerWindow.join(', ')} (limit ${plan.requests})`);
    const scripts = sumOf(after) - sumOf(before);
    return {
      instances: plan.instances,
      limit: { requests: plan.requests, windowSeconds: plan.windowSeconds },
      offeredPerSec,
      loadFactor: plan.loadFactor,
      sentPerSec: sumOf(load.sentPerInstance) / load.durationSec,
      admittedPerWindow,
      admittedRatio: summarize(admittedPerWindow.map((admitted) => admitted / plan.requests)),
      lowestAllowed: Math.ceil(0.95 * plan.requests),
      highestAllowed: Math.floor(1.01 * plan.requests) + 1,
      refused: load.refused,
      unexpected: load.unexpected,
      skipped: load.skipped,
      sentPerInstance: load.sentPerInstance,
      scripts: { reservations: scripts, admitted: load.admitted, perAdmitted: scripts / load.admitted },
      degradedInstances: degraded.filter((value) => value > 0).length,
    };
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}

async function measureHotPath(
  context: RateLimitsContext,
  load: LoadGenerator,
  plainKey: string,
  limitedKey: string,
): Promise<RateLimitsResult['hotPath']> {
  const log = context.log('rate limits');
  const spec = { name: 'rate-limits-hot' };
  const server = await startBenchServer(
    spec.name,
    serverConfig(context.env, context.databaseUrl, [], spec, undefined), // no set, no peers: not measured here
  );
  try {
    await expectOk(server.port, ['/open', '/secured'], plainKey);
    await expectOk(server.port, ['/secured'], limitedKey);
    const before = await server.stats();
    const serverPid = server.child.process.pid;
    const variants: Variant[] = [
      { name: 'open', url: `${server.url}/open`, serverPid },
      { name: 'secured', url: `${server.url}/secured`, headers: { 'x-api-key': plainKey }, serverPid },
      { name: 'limited', url: `${server.url}/secured`, headers: { 'x-api-key': limitedKey }, serverPid },
    ];
    const runs = await runInterleaved(load, variants, context.plan.load, log);
    const beforeAlone = await server.stats();
    const alone = await runLoad(
      load,
      variants[2]!,
      context.plan.load.throughputConnections,
      context.plan.load.throughputSec,
    );
    const afterAlone = await server.stats();
    const reservations = afterAlone.rateLimitReservations - beforeAlone.rateLimitReservations;
    log(`limited key alone: ${alone.ok} admitted, ${reservations} reservations`);
    return {
      limit: context.plan.rateLimits.farLimit,
      load: context.plan.load,
      variants: {
        open: summarizeVariant(runs.open!),
        secured: summarizeVariant(runs.secured!),
        limited: summarizeVariant(runs.limited!),
      },
      limitedVersusOpen: compareWithBaseline(runs, 'limited', 'open'),
      securedVersusOpen: compareWithBaseline(runs, 'secured', 'open'),
      limitedVersusSecured: throughputRatio(runs, 'limited', 'secured'),
      scripts: {
        reservations,
        admitted: alone.ok,
        perAdmitted: reservations / alone.ok,
        durationSec: alone.durationSec,
      },
      argon2Verifications: afterAlone.argon2Verifications - before.argon2Verifications,
    };
  } finally {
    await server.stop();
  }
}

export async function runRateLimits(context: RateLimitsContext): Promise<RateLimitsResult> {
  const plan = context.plan.rateLimits;
  const hasher = defaultHasher();
  const [fleetKey] = await insertKeys(context.databaseUrl, 1, hasher, {
    rateLimit: { requests: plan.requests, windowSeconds: plan.windowSeconds },
  });
  const [plainKey] = await insertKeys(context.databaseUrl, 1, hasher);
  const [limitedKey] = await insertKeys(context.databaseUrl, 1, hasher, { rateLimit: plan.farLimit });
  const fleet = await measureFleet(context, fleetKey!.key);
  const load = context.load ?? (await startLoadGenerator());
  try {
    const hotPath = await measureHotPath(context, load, plainKey!.key, limitedKey!.key);
    return { fleet, hotPath };
  } finally {
    if (!context.load) await load.stop();
  }
}
