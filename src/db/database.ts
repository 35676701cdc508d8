import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
// postgres.js with a guard against writing to a closed socket: packages/postgres-guarded (its README), mapped
// by package.json "imports" so that the same specifier resolves from src/ (tsx), dist/ and the installed package.
import postgres from '#postgres-guarded';
import * as schema from './schema.js';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  db: Database;
  close(): Promise<void>;
}

/** Any constant works; it only has to be the same for every keyward instance. */
const MIGRATION_LOCK_ID = 0x6b657977; // "keyw"

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('keyward: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** The folder holding package.json, in the source tree and in the built package alike. */
export const PACKAGE_ROOT = findPackageRoot();
export const MIGRATIONS_FOLDER = join(PACKAGE_ROOT, 'drizzle');

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** Longest a single statement may run before Postgres cancels it. */
  statementTimeoutMs: number;
  /** Longest to wait for a new connection. */
  connectTimeoutMs: number;
}

/**
 * Seconds postgres.js waits before reconnecting, given how many connection
 * attempts of the pool failed in a row. Its default grows to 20 s, so after
 * an outage of a few seconds a pool could stay away that long, stalling usage
 * flushes and cold key checks: ours stays under half a second, jittered so a
 * fleet does not reconnect in step.
 */
export function reconnectDelaySeconds(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** failures, RECONNECT_DELAY_MAX_SECONDS);
}
export const RECONNECT_DELAY_MAX_SECONDS = 0.5;

export function openPostgres(options: PostgresOptions): DatabaseHandle {
  const client = postgres(options.url, {
    max: options.poolSize,
    backoff: reconnectDelaySeconds,
    // The driver's own catalog query on each new connection rejects unhandled when that connection fails
    // (porsager/postgres#1192, #1223), which ends the process; keyward passes and reads no arrays that need it.
    fetch_types: false,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: 'keyward', statement_timeout: options.statementTimeoutMs },
  });
  return {
    db: drizzlePostgres(client, { schema }),
    // Closed last, after every user of the pool finished: what still runs then is a query stuck on a dead
    // connection (a partition), not work worth waiting for.
    close: () => client.end({ timeout: 1 }),
  };
}

/**
 * Runs pending migrations under a Postgres advisory lock: a fleet starts its
 * replicas together, and drizzle's migrator fails when two run at once.
 */
export async function migratePostgresDatabase(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migratePostgres(drizzlePostgres(client), { migrationsFolder: MIGRATIONS_FOLDER });
    await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

export async function pingDatabase(db: Database): Promise<void> {
  await db.execute(sql`SELECT 1`);
}

/** The SQLSTATE of a database error, looking through drizzle's wrapper. */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export const UNIQUE_VIOLATION = '23505';

/** Passed by a request to a transaction: the last word on whether it may still commit. */
export interface CommitGuard {
  /** Throws when the request already answered 503; afterwards the request waits for the commit. */
  enterCommit(): void;
}

export interface TransactionLimits {
  /** Longest one statement, or one wait for a lock, may take. */
  statementTimeoutMs: number;
  /** Postgres ends the session (rolling back) if the client goes silent mid-transaction this long. */
  idleTimeoutMs: number;
}

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
export type { Transaction };

/**
 * A transaction that cannot outlive its request: Postgres itself cancels a
 * slow statement or lock wait and drops a session gone silent, and a request
 * that already answered 503 can no longer commit. So "nothing was changed"
 * stays true after the client was told so.
 */
export async function boundedTransaction<T>(
  db: Database,
  limits: TransactionLimits,
  guard: CommitGuard | undefined,
  work: (tx: Transaction) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const statement = String(limits.statementTimeoutMs);
    await tx.execute(
      sql`SELECT set_config('statement_timeout', ${statement}, true), set_config('lock_timeout', ${statement}, true),
             set_config('idle_in_transaction_session_timeout', ${String(limits.idleTimeoutMs)}, true)`,
    );
    const result = await work(tx);
    guard?.enterCommit();
    return result;
  });
}
