/**
 * The bench's own databases and Redis key prefix, created at the start and
 * removed at the end, and the keys it measures with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { migratePostgresDatabase } from '../../src/db/database.js';
import { loadEnv } from '../../src/config/env.js';
import { generateKey, keyHint } from '../../packages/member/src/key-format.js';
import type { KeyRestriction } from '../../packages/member/src/key-restriction.js';
import { SecretHasher } from '../../src/keys/secret-hashing.js';

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** keyward's default key prefix; the bench servers run with it. */
export const KEY_PREFIX = 'kw';

/** The scope the bench server's `/scoped` route asks of a key. */
export const SCOPED_ROUTE_SCOPE = 'orders:read';

export interface BenchKey {
  keyId: string;
  key: string;
  accountId: string;
}

export class BenchEnvironment {
  readonly runId = randomBytes(4).toString('hex');
  /** Every Redis key the bench (and the keyward processes it starts) writes begins with this. */
  readonly redisPrefix = `keyward_bench:${this.runId}:`;
  /** The server secret every process of this run shares (KEYWARD_SECRET). */
  readonly secret = randomBytes(32).toString('base64url');
  private readonly databases: string[] = [];
  private readonly admin = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  private cleaningUp = false;

  /** Creates a database of this run, migrated for keyward unless `migrate` is false; returns its URL. */
  async createDatabase(suffix: string, { migrate = true } = {}): Promise<string> {
    // After cleanup began (Ctrl-C), nothing new may be created: it would outlive the run.
    if (this.cleaningUp) throw new Error('the bench is cleaning up');
    const name = `keyward_bench_${this.runId}_${suffix}`;
    await this.admin.unsafe(`CREATE DATABASE ${name}`);
    this.databases.push(name);
    const url = new URL(ADMIN_DATABASE_URL);
    url.pathname = `/${name}`;
    if (migrate) await migratePostgresDatabase(url.toString());
    return url.toString();
  }

  /** A sub-prefix, so that the processes of one section do not join the fleet of another. */
  prefix(section: string): string {
    return `${this.redisPrefix}${section}:`;
  }

  /** Drops the databases and deletes the Redis keys of this run. Safe to call twice. */
  async cleanup(): Promise<{ databasesDropped: number; redisKeysDeleted: number }> {
    this.cleaningUp = true;
    let databasesDropped = 0;
    for (const name of this.databases.splice(0)) {
      await this.admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      databasesDropped++;
    }
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    let redisKeysDeleted = 0;
    try {
      await redis.connect();
      let cursor = '0';
      // Bounded: a run writes far fewer keys than this many scan pages cover.
      for (let page = 0; page < 100_000; page++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.redisPrefix}*`, 'COUNT', 1000);
        if (keys.length > 0) redisKeysDeleted += await redis.del(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
    } finally {
      redis.disconnect();
    }
    return { databasesDropped, redisKeysDeleted };
  }

  async close(): Promise<void> {
    await this.admin.end({ timeout: 5 });
  }
}

/** argon2id at keyward's default cost (OWASP: m=19456 KiB, t=2, p=1), read from its own defaults. */
export function defaultHasher(): SecretHasher {
  const env = loadEnv({});
  const unbounded = { concurrency: 2, keyCheckQueueMax: 1_000_000, accountQueueMax: 1_000_000, accountWaitMs: 600_000 };
  return new SecretHasher(
    {
      memoryKib: env.KEYWARD_ARGON2_MEMORY_KIB,
      timeCost: env.KEYWARD_ARGON2_TIME_COST,
      parallelism: env.KEYWARD_ARGON2_PARALLELISM,
    },
    unbounded, // the bench hashes its own keys in bulk; the pool's bounds are keyward's request path's
  );
}

/**
 * Inserts `count` real keys, each hashed with argon2id at the default cost,
 * two per account as keyward allows, with `restriction` (default: full access
 * from anywhere, no rate limit of the key's own). Rows are written directly (no user, no session): key
 * checking reads only api_keys.
 */
export async function insertKeys(
  databaseUrl: string,
  count: number,
  hasher: SecretHasher,
  restriction: Partial<KeyRestriction> = {},
): Promise<BenchKey[]> {
  const { scopes = null, allowedNetworks = null, metadata = null, rateLimit = null } = restriction;
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const keys: BenchKey[] = [];
    for (let first = 0; first < count; first += 2) {
      const [account] = await sql<{ id: string }[]>`INSERT INTO accounts (name) VALUES ('bench') RETURNING id`;
      const pair = Array.from({ length: Math.min(2, count - first) }, () => generateKey(KEY_PREFIX));
      // Hash the pair at once: argon2 runs on libuv's thread pool.
      const hashes = await Promise.all(pair.map(({ key }) => hasher.hash(key)));
      for (const [index, { keyId, key }] of pair.entries()) {
        await sql`INSERT INTO api_keys (id, account_id, name, secret_hash, hint, slot, scopes, allowed_networks, metadata,
                                        rate_limit_requests, rate_limit_window_seconds)
                  VALUES (${keyId}, ${account!.id}, 'bench', ${hashes[index]!}, ${keyHint(key)}, ${index + 1},
                          ${scopes && sql.array([...scopes])}, ${allowedNetworks && sql.array([...allowedNetworks])},
                          ${metadata && sql.json(metadata as postgres.JSONValue)},
                          ${rateLimit?.requests ?? null}, ${rateLimit?.windowSeconds ?? null})`;
        keys.push({ keyId, key, accountId: account!.id });
      }
    }
    return keys;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Bulk-inserts `count` filler keys with generate_series: realistic 16-character
 * base62-like ids, two active keys per account, and a dummy secret_hash (no
 * check ever reaches argon2 for them). Rows are inserted in id order and the
 * per-row foreign-key triggers are skipped (the accounts are inserted just
 * before): this only makes a million rows take seconds instead of a minute,
 * the indexes and table end up the same.
 */
export async function insertFiller(databaseUrl: string, count: number): Promise<number> {
  const started = performance.now();
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const accounts = Math.ceil(count / 2);
    // Filler account ids have a zero version nibble, so they cannot collide with gen_random_uuid().
    await sql`INSERT INTO accounts (id, name)
              SELECT lpad(to_hex(g), 32, '0')::uuid, 'filler' FROM generate_series(1, ${accounts}::int) g`;
    await sql.begin(async (tx) => {
      await tx`SET LOCAL session_replication_role = replica`;
      await tx`
        INSERT INTO api_keys (id, account_id, name, secret_hash, hint, slot)
        SELECT id, lpad(to_hex((n + 1) / 2), 32, '0')::uuid, 'filler',
               '$argon2id$v=19$m=19456,t=2,p=1$ZmlsbGVyZmlsbGVy$ZmlsbGVyZmlsbGVyZmlsbGVy', 'kw_' || id || '_…0000',
               ((n - 1) % 2) + 1
        FROM (
          SELECT id, row_number() OVER (ORDER BY id) AS n
          FROM (
            SELECT substr(translate(encode(decode(md5('filler' || g), 'hex'), 'base64'), '+/', 'Ab'), 1, 16) AS id
            FROM generate_series(1, ${count}::int) g
          ) ids
        ) numbered`;
    });
    await sql`VACUUM ANALYZE accounts`;
    await sql`VACUUM ANALYZE api_keys`;
    return performance.now() - started;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Rows in api_keys. */
export async function countKeys(databaseUrl: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ count: string }[]>`SELECT count(*) FROM api_keys`;
    return Number(row!.count);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Index scans of api_keys' primary key so far (Postgres flushes these statistics within about a second). */
export async function primaryKeyLookups(databaseUrl: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ scans: string }[]>`
      SELECT idx_scan AS scans FROM pg_stat_user_indexes WHERE indexrelname = 'api_keys_pkey'`;
    return Number(row?.scans ?? 0);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Stores what the naive "Redis GET per request" reference route looks up. */
export async function storeNaiveKeys(naivePrefix: string, keys: BenchKey[]): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    for (const { key, accountId } of keys) {
      await redis.set(naivePrefix + createHash('sha256').update(key).digest('hex'), accountId);
    }
  } finally {
    redis.disconnect();
  }
}
