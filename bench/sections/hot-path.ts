/**
 * 1. Hot-path overhead: one server process, routes with the same handler
 * (open, keyward with a cached key, in-memory constant-time set, Redis GET per
 * request, and better-auth's api-key plugin as a peer when installed), driven
 * by autocannon in its own process, interleaved over rounds. keyward is also
 * measured with restricted keys: a scoped key on a route asking for its scope,
 * a key whose allowed networks cover the load's address, and a key with a rate
 * limit of its own far above the load.
 */
import { HttpConnection } from '../lib/http-connection.js';
import {
  addedLatency,
  addedServerCpu,
  cpuRatio,
  runInterleaved,
  summarizeVariant,
  throughputRatio,
  type Variant,
  type VariantRuns,
  type VariantSummary,
} from '../lib/load.js';
import type { Summary } from '../lib/stats.js';
import { SERVERS, type BenchContext } from './context.js';

export const HOT_VARIANTS = ['open', 'secured', 'set', 'redisGet'] as const;
export type HotVariant = (typeof HOT_VARIANTS)[number];
/** Measured when bench/peers/ is installed; absent from older results. */
export type PeerVariant = 'betterAuth';
/**
 * keyward with a restricted key (its compiled restriction checked on every request), or one with a rate limit of
 * its own far above the load (admitted from batches reserved in Redis); absent from older results.
 */
export const RESTRICTED_VARIANTS = ['scoped', 'networks', 'limited'] as const;
export type RestrictedVariant = (typeof RESTRICTED_VARIANTS)[number];
/** Every variant that may be absent from a result. */
type OptionalVariant = PeerVariant | RestrictedVariant;

const PATHS: Record<HotVariant, string> = { open: '/open', secured: '/secured', set: '/set', redisGet: '/redis-get' };
/** The scoped key on the route asking for its scope; the allowed-networks and the limited key on the plain keyward route. */
const RESTRICTED_PATHS: Record<RestrictedVariant, string> = {
  scoped: '/scoped',
  networks: '/secured',
  limited: '/secured',
};
const BETTER_AUTH_PATH = '/better-auth';

export interface VersusOpen {
  /** Throughput over /open's, within each round. */
  ratio: Summary;
  /** Latency added to /open's, within each round, ms: one connection, and under saturating load. */
  addedP50Ms: Summary;
  addedP99Ms: Summary;
  addedLoadedP50Ms: Summary;
  addedLoadedP99Ms: Summary;
  /** Server CPU per request added to /open's, within each round, µs. */
  addedServerCpuUs: Summary;
  /** /open's server CPU per request over this route's: the throughput ratio on a core of its own. */
  cpuRatio: Summary;
}

export interface HotPathResult {
  /** keyward settings passed to the plugin (none: its defaults). */
  settings: Record<string, string>;
  variants: Record<HotVariant, VariantSummary> & Partial<Record<OptionalVariant, VariantSummary>>;
  versusOpen: Record<Exclude<HotVariant, 'open'>, VersusOpen> & Partial<Record<OptionalVariant, VersusOpen>>;
  /** Why a peer was not measured in this run. */
  peersSkipped?: string;
  /** argon2 verifications in the server during the load runs (must be 0: the key is cached). */
  argon2Verifications: number;
}

export function compareWithBaseline(runs: Record<string, VariantRuns>, variant: string, baseline: string): VersusOpen {
  return {
    ratio: throughputRatio(runs, variant, baseline),
    addedP50Ms: addedLatency(runs, variant, baseline, 'p50', 'latency'),
    addedP99Ms: addedLatency(runs, variant, baseline, 'p99', 'latency'),
    addedLoadedP50Ms: addedLatency(runs, variant, baseline, 'p50', 'throughput'),
    addedLoadedP99Ms: addedLatency(runs, variant, baseline, 'p99', 'throughput'),
    addedServerCpuUs: addedServerCpu(runs, variant, baseline),
    cpuRatio: cpuRatio(runs, variant, baseline),
  };
}

/** Sends one request per route and fails unless each answers 200 (this also caches the key in keyward). */
export async function expectOk(port: number, paths: string[], key: string): Promise<void> {
  const connection = await HttpConnection.open({ port });
  try {
    for (const path of paths) {
      const response = await connection.request('GET', path, { 'x-api-key': key });
      if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${response.body}`);
    }
  } finally {
    connection.close();
  }
}

export async function runHotPath(context: BenchContext): Promise<HotPathResult> {
  const log = context.log('hot path');
  const [server] = await context.servers.start(SERVERS.default);
  await expectOk(server!.port, Object.values(PATHS), context.hotKey.key);
  const before = (await server!.stats()).argon2Verifications;
  const headers = { 'x-api-key': context.hotKey.key };
  const serverPid = server!.child.process.pid;
  const variants: Variant[] = HOT_VARIANTS.map((name) => ({
    name,
    url: server!.url + PATHS[name],
    headers,
    serverPid,
  }));
  for (const name of RESTRICTED_VARIANTS) {
    const restricted = context.restrictedKeys[name];
    if (restricted === undefined) continue;
    const { key } = restricted;
    await expectOk(server!.port, [RESTRICTED_PATHS[name]], key);
    variants.push({ name, url: server!.url + RESTRICTED_PATHS[name], headers: { 'x-api-key': key }, serverPid });
  }
  const betterAuth = 'key' in context.betterAuth ? context.betterAuth : undefined;
  if (betterAuth) {
    await expectOk(server!.port, [BETTER_AUTH_PATH], betterAuth.key);
    variants.push({
      name: 'betterAuth',
      url: server!.url + BETTER_AUTH_PATH,
      headers: { 'x-api-key': betterAuth.key },
      serverPid,
    });
  }
  const runs = await runInterleaved(context.load, variants, context.plan.load, log);
  const stats = await server!.stats();
  return {
    settings: SERVERS.default.settings ?? {},
    variants: {
      open: summarizeVariant(runs.open!),
      secured: summarizeVariant(runs.secured!),
      set: summarizeVariant(runs.set!),
      redisGet: summarizeVariant(runs.redisGet!),
      scoped: summarizeVariant(runs.scoped!),
      networks: summarizeVariant(runs.networks!),
      ...(runs.limited && { limited: summarizeVariant(runs.limited) }),
      ...(betterAuth && { betterAuth: summarizeVariant(runs.betterAuth!) }),
    },
    versusOpen: {
      secured: compareWithBaseline(runs, 'secured', 'open'),
      set: compareWithBaseline(runs, 'set', 'open'),
      redisGet: compareWithBaseline(runs, 'redisGet', 'open'),
      scoped: compareWithBaseline(runs, 'scoped', 'open'),
      networks: compareWithBaseline(runs, 'networks', 'open'),
      ...(runs.limited && { limited: compareWithBaseline(runs, 'limited', 'open') }),
      ...(betterAuth && { betterAuth: compareWithBaseline(runs, 'betterAuth', 'open') }),
    },
    ...('skipped' in context.betterAuth && { peersSkipped: context.betterAuth.skipped }),
    argon2Verifications: stats.argon2Verifications - before,
  };
}
