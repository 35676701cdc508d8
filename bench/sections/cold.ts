/**
 * 2. Cold checks, one request at a time on an idle server:
 *   - a key no instance has seen and Redis does not hold: Postgres + argon2id at the default cost;
 *   - a key hot in Redis but not in this instance: warmed through server A, then asked of server B;
 * and 5. the same Postgres + argon2 check with the small (10 k) and the large (1 M) key table,
 * interleaved sample by sample, plus an unknown key id (one Postgres read, no argon2) on both.
 */
import { generateKey } from '../../packages/member/src/key-format.js';
import { countKeys, defaultHasher, insertFiller, insertKeys, KEY_PREFIX, type BenchKey } from '../lib/environment.js';
import { HttpConnection } from '../lib/http-connection.js';
import type { BenchServer } from '../lib/servers.js';
import { summarize, type Summary } from '../lib/stats.js';
import { sleep } from '../lib/util.js';
import { LIMITER_OFF, SERVERS, type BenchContext } from './context.js';
import { loadEnv } from '../../src/config/env.js';

export interface ColdResult {
  argon2: { memoryKib: number; timeCost: number; parallelism: number };
  samples: number;
  /** Client-side time of one request, ms, on a kept-alive connection. */
  openMs: Summary;
  /** Key in no instance and not in Redis: Postgres + argon2id (small table). */
  postgresArgon2Ms: Summary;
  /** Key hot in Redis (warmed through another process), first time in this instance. */
  redisHotMs: Summary;
  /** argon2 verifications in the Redis-reading server during those requests (must be 0). */
  redisHotArgon2Verifications: number;
  /** The same key again on the same instance: the in-process tier, for reference. */
  memoryHitMs: Summary;
  scale: {
    smallKeys: number;
    largeKeys: number;
    largeFillerInsertMs: number;
    postgresArgon2Ms: { small: Summary; large: Summary };
    /** large over small, per interleaved pair of samples. */
    ratio: Summary;
    /** Well-formed key with an unknown id: one Postgres primary-key read, no argon2. */
    unknownIdMs: { small: Summary; large: Summary };
  };
}

async function timed(connection: HttpConnection, path: string, key: string | undefined, expect: number) {
  const response = await connection.request('GET', path, key === undefined ? {} : { 'x-api-key': key });
  if (response.status !== expect) throw new Error(`GET ${path} answered ${response.status}, expected ${expect}`);
  return response.receivedAt - response.sentAt;
}

export async function runCold(context: BenchContext): Promise<ColdResult> {
  const log = context.log('cold');
  const { plan } = context;
  const count = plan.cold.samples + 1; // the first of each kind is a warm-up
  const hasher = defaultHasher();

  log(`creating the large database: ${plan.cold.largeRows.toLocaleString('en-US')} filler keys`);
  const largeUrl = await context.env.createDatabase('large');
  const largeFillerInsertMs = await insertFiller(largeUrl, plan.cold.largeRows);
  log(`filler inserted in ${(largeFillerInsertMs / 1000).toFixed(1)} s; hashing ${count * 3} keys at the default cost`);
  const [smallKeys, redisKeys, largeKeys] = await Promise.all([
    insertKeys(context.databaseUrl, count, hasher),
    insertKeys(context.databaseUrl, count, hasher),
    insertKeys(largeUrl, count, hasher),
  ]);
  const [smallTable, largeTable] = await Promise.all([countKeys(context.databaseUrl), countKeys(largeUrl)]);

  // Unknown ids are measured too: with the limiter off they stay 401s. A and B share a Redis fleet.
  const servers: BenchServer[] = await context.servers.start(SERVERS.limiterOff, SERVERS.limiterOffSecond, {
    name: 'large',
    settings: LIMITER_OFF,
    databaseUrl: largeUrl,
  });
  const connections: HttpConnection[] = [];
  try {
    const [a, b, large] = await Promise.all(
      servers.map(async (server) => {
        const connection = await HttpConnection.open({ port: server.port });
        connections.push(connection);
        for (let i = 0; i < 20; i++) await timed(connection, '/open', undefined, 200);
        return connection;
      }),
    );
    const serverB = servers[1]!;
    const bBefore = (await serverB.stats()).argon2Verifications;

    const samples = {
      open: [] as number[],
      small: [] as number[],
      large: [] as number[],
      unknownSmall: [] as number[],
      unknownLarge: [] as number[],
      redisHot: [] as number[],
      memory: [] as number[],
    };
    const record = (list: number[], index: number, value: number) => {
      if (index > 0) list.push(value);
    };
    const unknownKey = () => generateKey(KEY_PREFIX).key;
    const postgresPair = async (index: number, small: BenchKey, largeKey: BenchKey) => {
      // Alternate which table goes first, so neither always follows the other.
      if (index % 2 === 0) {
        record(samples.small, index, await timed(a!, '/secured', small.key, 200));
        record(samples.large, index, await timed(large!, '/secured', largeKey.key, 200));
      } else {
        record(samples.large, index, await timed(large!, '/secured', largeKey.key, 200));
        record(samples.small, index, await timed(a!, '/secured', small.key, 200));
      }
    };
    for (let index = 0; index < count; index++) {
      // argon2's 19 MiB pass evicts the CPU caches and slows the next request of the process by a fraction of a
      // millisecond: one unrecorded request first, so that the floor and the cached-key figures are steady-state.
      await timed(a!, '/open', undefined, 200);
      record(samples.open, index, await timed(a!, '/open', undefined, 200));
      // The previous sample's key is cached in A by now: the in-process tier.
      if (index > 0) record(samples.memory, index, await timed(a!, '/secured', smallKeys[index - 1]!.key, 200));
      await postgresPair(index, smallKeys[index]!, largeKeys[index]!);
      record(samples.unknownSmall, index, await timed(a!, '/secured', unknownKey(), 401));
      record(samples.unknownLarge, index, await timed(large!, '/secured', unknownKey(), 401));
      // Warm through A (which fills Redis' hot set), then ask B, which has never seen the key.
      await timed(a!, '/secured', redisKeys[index]!.key, 200);
      await sleep(5);
      record(samples.redisHot, index, await timed(b!, '/secured', redisKeys[index]!.key, 200));
    }
    const redisHotArgon2Verifications = (await serverB.stats()).argon2Verifications - bBefore;
    log(
      `Postgres+argon2 ${summarize(samples.small).median.toFixed(1)} ms (small) / ` +
        `${summarize(samples.large).median.toFixed(1)} ms (large), Redis-hot ${summarize(samples.redisHot).median.toFixed(2)} ms`,
    );

    const env = loadEnv({});
    return {
      argon2: {
        memoryKib: env.KEYWARD_ARGON2_MEMORY_KIB,
        timeCost: env.KEYWARD_ARGON2_TIME_COST,
        parallelism: env.KEYWARD_ARGON2_PARALLELISM,
      },
      samples: plan.cold.samples,
      openMs: summarize(samples.open),
      postgresArgon2Ms: summarize(samples.small),
      redisHotMs: summarize(samples.redisHot),
      redisHotArgon2Verifications,
      memoryHitMs: summarize(samples.memory),
      scale: {
        smallKeys: smallTable,
        largeKeys: largeTable,
        largeFillerInsertMs,
        postgresArgon2Ms: { small: summarize(samples.small), large: summarize(samples.large) },
        ratio: summarize(samples.large.map((value, index) => value / samples.small[index]!)),
        unknownIdMs: { small: summarize(samples.unknownSmall), large: summarize(samples.unknownLarge) },
      },
    };
  } finally {
    for (const connection of connections) connection.close();
  }
}
