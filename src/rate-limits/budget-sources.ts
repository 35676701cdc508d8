/**
 * Where keyward's own instances reserve rate-limit budget: the fleet's Redis, or this process alone in
 * single-instance mode (packages/member/src/rate-limits.ts explains the batches).
 */
import { and, eq, gte, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { keyUsage } from '../db/schema.js';
import { connectRedis, FleetKeys, type ScriptedRedis } from '../fleet/fleet-protocol.js';
import type { BudgetGrant, BudgetRequest, BudgetSource } from '../../packages/member/src/rate-limits.js';

/** keyward's own budget source: reserves, and reads its counts for the consumption view (GET /v1/limits). */
export interface FleetBudgets extends BudgetSource {
  /**
   * The counts named (see counterName), in order: what the fleet's instances reserved so far in each window,
   * 0 for a count no instance reserved from yet. Never changes a count.
   */
  peek(names: string[]): Promise<number[]>;
  close(): void;
}

/** The requests an account's keys were counted with since `since`, as flushed (a quota's count, rebuilt). */
export async function usageSince(db: Database, accountId: string, since: Date): Promise<number> {
  const [row] = await db
    .select({ requests: sql<string>`coalesce(sum(${keyUsage.requests}), 0)` })
    .from(keyUsage)
    .where(and(eq(keyUsage.accountId, accountId), eq(keyUsage.granularity, 'hour'), gte(keyUsage.bucketStart, since)));
  return Number(row?.requests ?? 0);
}

/** The first moment of the month a quota's window ends after. */
function monthBefore(resetAt: number): Date {
  const end = new Date(resetAt);
  return new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
}

/**
 * Budget from counts in Redis, one Lua script per reservation. A quota's count that Redis lost (a restart:
 * it keeps nothing on disk) is rebuilt from the usage Postgres holds for the month.
 */
export class RedisBudgets implements FleetBudgets {
  private readonly redis: ScriptedRedis;
  private readonly keys: FleetKeys;
  private connecting: Promise<void> | undefined;

  constructor(
    redisUrl: string,
    keyPrefix: string,
    timeoutMs: number,
    private readonly db: Database,
  ) {
    this.redis = connectRedis(redisUrl, { commandTimeout: timeoutMs, connectionName: 'keyward-budgets' });
    this.redis.on('error', () => {}); // a failed reservation falls back to the instance's share, and says so
    this.keys = new FleetKeys(keyPrefix, 'budgets');
  }

  async reserve(_keyId: string, requests: BudgetRequest[]): Promise<{ grants: BudgetGrant[]; fleetSize: number }> {
    const first = await this.run(requests, () => -1);
    const lost = requests.filter((_, index) => first.grants[index]!.used < 0);
    if (lost.length === 0) return first;
    const floors = new Map<BudgetRequest, number>();
    for (const request of lost)
      floors.set(request, await usageSince(this.db, request.accountId, monthBefore(request.resetAt)));
    const rebuilt = await this.run(lost, (request) => floors.get(request)!);
    const grants = first.grants.map((grant, index) =>
      grant.used < 0 ? rebuilt.grants[lost.indexOf(requests[index]!)]! : grant,
    );
    return { grants, fleetSize: rebuilt.fleetSize };
  }

  /** Resolves once the connection is ready (at start, after a reconnect); the limiter bounds the wait. */
  private ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve) => this.redis.once('ready', resolve)).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async run(requests: BudgetRequest[], floorOf: (request: BudgetRequest) => number) {
    await this.ready();
    const names = requests.map((request) => this.keys.budget(request.name));
    const args = requests.flatMap((request) => [
      request.limit,
      request.want,
      request.resetAt,
      request.kind === 'quota' ? floorOf(request) : 0,
    ]);
    const out = await this.redis.keywardReserve(names.length + 1, this.keys.registry, ...names, ...args);
    const grants = requests.map((_, index) => ({
      granted: Number(out[1 + 2 * index]),
      used: Number(out[2 + 2 * index]),
    }));
    return { grants, fleetSize: Number(out[0]) };
  }

  async peek(names: string[]): Promise<number[]> {
    if (names.length === 0) return [];
    const values = await this.redis.mget(...names.map((name) => this.keys.budget(name)));
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  close(): void {
    this.redis.disconnect();
  }
}

/** Single-instance mode: the counts live in this process, which is the whole fleet. */
export class LocalBudgets implements FleetBudgets {
  private readonly counts = new Map<string, { used: number; resetAt: number }>();

  constructor(private readonly db: Database) {}

  async reserve(_keyId: string, requests: BudgetRequest[]): Promise<{ grants: BudgetGrant[]; fleetSize: number }> {
    const now = Date.now();
    for (const [name, count] of this.counts) if (count.resetAt + 60_000 < now) this.counts.delete(name);
    const grants: BudgetGrant[] = [];
    for (const request of requests) {
      let count = this.counts.get(request.name);
      if (count === undefined) {
        const used =
          request.kind === 'quota' ? await usageSince(this.db, request.accountId, monthBefore(request.resetAt)) : 0;
        count = this.counts.get(request.name) ?? { used, resetAt: request.resetAt };
        this.counts.set(request.name, count);
      }
      const granted = Math.max(0, Math.min(request.want, request.limit - count.used));
      count.used += granted;
      grants.push({ granted, used: count.used });
    }
    return { grants, fleetSize: 1 };
  }

  async peek(names: string[]): Promise<number[]> {
    return names.map((name) => this.counts.get(name)?.used ?? 0);
  }

  close(): void {}
}
