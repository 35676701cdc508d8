import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'drizzle-orm';
import { boundedTransaction, type Database, type TransactionLimits } from '../db/database.js';
import { keyCallers, keyUsage, usageFlushes } from '../db/schema.js';
import { detached } from '../keys/key-format.js';

interface CallerCount {
  requests: number;
  firstSeen: number;
  lastSeen: number;
}

interface KeyCounts {
  accountId: string;
  requests: number;
  lastSeen: number;
  /** client address → user agent → count */
  callers: Map<string, Map<string, CallerCount>>;
  callerCount: number;
}

interface MinuteCounts {
  minute: number;
  keys: Map<string, KeyCounts>;
}

/** Counts on their way to Postgres, under the id that makes writing them idempotent. */
interface Batch {
  id: string;
  minutes: MinuteCounts[];
  /** Once a write of it began, a batch takes no more counts: that write may yet commit. */
  tried: boolean;
}

export interface UsageRecorderOptions {
  db: Database;
  /** Bounds on each flush's transaction, so that Postgres ends one its client gave up on. */
  transactionLimits: TransactionLimits;
  log: FastifyBaseLogger;
  flushIntervalMs: number;
  /** Longest a flush waits for a write; the next flush writes the batch again (idempotent). */
  flushTimeoutMs: number;
  /** Most distinct keys counted per minute per instance; beyond, requests are still served but not counted. */
  maxKeysPerMinute: number;
  /** Most distinct callers (address × user agent) kept per key per minute. */
  maxCallersPerKey: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** User agents are client-chosen text: keep what identifies a client, not a payload. */
const MAX_USER_AGENT_LENGTH = 200;

/**
 * Counts requests per key in memory and adds them to Postgres on an
 * interval, so the hot path never writes the database. Counts are added with
 * upserts, so the flushes of every instance sum exactly. A crash loses at
 * most the counts since the last flush (one interval); a graceful shutdown
 * flushes.
 *
 * A flush that fails or times out keeps its counts, under the same batch id,
 * for the next one. The id is recorded in the flush's own transaction, so
 * writing a batch again after a write that did commit (its answer lost with
 * the connection, or late) adds nothing. Counts arriving meanwhile form the
 * next batch.
 */
export class UsageRecorder {
  private current: MinuteCounts = { minute: -1, keys: new Map() };
  /** Minutes ended since the last flush. */
  private pending: MinuteCounts[] = [];
  /** Batches not known to be written, oldest first. */
  private readonly unconfirmed: Batch[] = [];
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** Requests not counted because a bound was reached (reported in the log). */
  uncounted = 0;

  constructor(private readonly options: UsageRecorderOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  record(keyId: string, accountId: string, clientAddress: string, userAgent: string | undefined, now: number): void {
    const minute = Math.floor(now / MINUTE_MS);
    if (minute !== this.current.minute) {
      if (this.current.keys.size > 0) this.pending.push(this.current);
      this.current = { minute, keys: new Map() };
    }
    let counts = this.current.keys.get(keyId);
    if (counts === undefined) {
      if (this.current.keys.size >= this.options.maxKeysPerMinute) {
        this.uncounted++;
        return;
      }
      counts = { accountId, requests: 0, lastSeen: now, callers: new Map(), callerCount: 0 };
      this.current.keys.set(detached(keyId), counts);
    }
    counts.requests++;
    counts.lastSeen = now;
    const agent =
      userAgent === undefined
        ? ''
        : userAgent.length > MAX_USER_AGENT_LENGTH
          ? userAgent.slice(0, MAX_USER_AGENT_LENGTH)
          : userAgent;
    let byAgent = counts.callers.get(clientAddress);
    let caller = byAgent?.get(agent);
    if (caller === undefined) {
      if (counts.callerCount >= this.options.maxCallersPerKey) return;
      if (byAgent === undefined) {
        byAgent = new Map();
        counts.callers.set(clientAddress, byAgent);
      }
      caller = { requests: 0, firstSeen: now, lastSeen: now };
      byAgent.set(agent, caller);
      counts.callerCount++;
    }
    caller.requests++;
    caller.lastSeen = now;
  }

  /** Writes everything counted so far; flushes run one at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce());
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    this.seal();
    while (this.unconfirmed.length > 0) {
      const batch = this.unconfirmed[0]!;
      batch.tried = true;
      const outcome = await settledWithin(this.write(batch), this.options.flushTimeoutMs);
      if (outcome !== 'written') {
        // Kept for the next flush; lost only if this process dies first.
        this.options.log.warn(
          outcome === 'timeout' ? { timeoutMs: this.options.flushTimeoutMs } : { err: outcome.error },
          'usage flush failed; counts kept for the next attempt',
        );
        break;
      }
      this.unconfirmed.shift();
    }
    if (this.uncounted > 0) {
      this.options.log.warn({ uncounted: this.uncounted }, 'usage bounds reached: some requests were not counted');
      this.uncounted = 0;
    }
  }

  /** Moves the counts so far into a batch that was never tried (or a new one). */
  private seal(): void {
    const minutes = this.pending;
    if (this.current.keys.size > 0) minutes.push(this.current);
    this.pending = [];
    this.current = { minute: -1, keys: new Map() };
    if (minutes.length === 0) return;
    const last = this.unconfirmed.at(-1);
    if (last && !last.tried) last.minutes.push(...minutes);
    else this.unconfirmed.push({ id: randomUUID(), minutes, tried: false });
  }

  private async write({ id, minutes }: Batch): Promise<void> {
    const minuteRows = new Map<string, { keyId: string; accountId: string; bucket: number; requests: number }>();
    const hourRows = new Map<string, { keyId: string; accountId: string; bucket: number; requests: number }>();
    const callerRows = new Map<
      string,
      { keyId: string; accountId: string; address: string; agent: string; count: CallerCount }
    >();
    const lastUsed = new Map<string, number>();
    const add = (
      rows: Map<string, { keyId: string; accountId: string; bucket: number; requests: number }>,
      keyId: string,
      accountId: string,
      bucket: number,
      requests: number,
    ) => {
      const id = `${keyId}@${bucket}`;
      const row = rows.get(id);
      if (row) row.requests += requests;
      else rows.set(id, { keyId, accountId, bucket, requests });
    };
    for (const { minute, keys } of minutes) {
      for (const [keyId, counts] of keys) {
        add(minuteRows, keyId, counts.accountId, minute * MINUTE_MS, counts.requests);
        add(hourRows, keyId, counts.accountId, Math.floor((minute * MINUTE_MS) / HOUR_MS) * HOUR_MS, counts.requests);
        lastUsed.set(keyId, Math.max(lastUsed.get(keyId) ?? 0, counts.lastSeen));
        for (const [address, byAgent] of counts.callers) {
          for (const [agent, count] of byAgent) {
            const id = `${keyId}\n${address}\n${agent}`;
            const row = callerRows.get(id);
            if (row) {
              row.count.requests += count.requests;
              row.count.firstSeen = Math.min(row.count.firstSeen, count.firstSeen);
              row.count.lastSeen = Math.max(row.count.lastSeen, count.lastSeen);
            } else {
              callerRows.set(id, { keyId, accountId: counts.accountId, address, agent, count: { ...count } });
            }
          }
        }
      }
    }
    const usageValues = [
      ...[...minuteRows.values()].map((row) => ({ ...row, granularity: 'minute' as const })),
      ...[...hourRows.values()].map((row) => ({ ...row, granularity: 'hour' as const })),
    ].map((row) => ({
      keyId: row.keyId,
      accountId: row.accountId,
      granularity: row.granularity,
      bucketStart: new Date(row.bucket),
      requests: row.requests,
    }));
    const callerValues = [...callerRows.values()].map((row) => ({
      keyId: row.keyId,
      accountId: row.accountId,
      // Postgres text cannot hold NUL; Node's parser refuses it in headers, but never let one stop every flush.
      clientAddress: row.address.replaceAll('\u0000', ''),
      userAgent: row.agent.replaceAll('\u0000', ''),
      firstSeenAt: new Date(row.count.firstSeen),
      lastSeenAt: new Date(row.count.lastSeen),
      requests: row.count.requests,
    }));
    // Rows in primary-key order: two instances flushing the same keys then lock them in the same order
    // and cannot deadlock each other.
    usageValues.sort(
      (a, b) =>
        compare(a.keyId, b.keyId) ||
        compare(a.granularity, b.granularity) ||
        a.bucketStart.getTime() - b.bucketStart.getTime(),
    );
    callerValues.sort(
      (a, b) =>
        compare(a.keyId, b.keyId) || compare(a.clientAddress, b.clientAddress) || compare(a.userAgent, b.userAgent),
    );
    const ids = [...lastUsed.keys()].sort(compare);
    const times = ids.map((id) => new Date(lastUsed.get(id)!).toISOString());
    await boundedTransaction(this.options.db, this.options.transactionLimits, undefined, async (tx) => {
      const first = await tx
        .insert(usageFlushes)
        .values({ id })
        .onConflictDoNothing()
        .returning({ id: usageFlushes.id });
      if (first.length === 0) return; // this batch committed before; its answer was lost
      await tx
        .insert(keyUsage)
        .values(usageValues)
        .onConflictDoUpdate({
          target: [keyUsage.keyId, keyUsage.granularity, keyUsage.bucketStart],
          set: { requests: sql`${keyUsage.requests} + excluded.requests` },
        });
      if (callerValues.length > 0) {
        await tx
          .insert(keyCallers)
          .values(callerValues)
          .onConflictDoUpdate({
            target: [keyCallers.keyId, keyCallers.clientAddress, keyCallers.userAgent],
            set: {
              requests: sql`${keyCallers.requests} + excluded.requests`,
              firstSeenAt: sql`LEAST(${keyCallers.firstSeenAt}, excluded.first_seen_at)`,
              lastSeenAt: sql`GREATEST(${keyCallers.lastSeenAt}, excluded.last_seen_at)`,
            },
          });
      }
      await tx.execute(sql`
        UPDATE api_keys SET last_used_at = GREATEST(COALESCE(api_keys.last_used_at, v.t), v.t)
        FROM unnest(${toArrayLiteral(ids)}::text[], ${toArrayLiteral(times)}::timestamptz[]) AS v(id, t)
        WHERE api_keys.id = v.id`);
    });
  }

  /** Stops the timer and writes what is left (graceful shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** How `promise` settled within `ms`, without ever rejecting. */
async function settledWithin(promise: Promise<void>, ms: number): Promise<'written' | 'timeout' | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => 'written' as const,
        (error: unknown) => ({ error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A Postgres array literal of plain tokens (key ids, ISO timestamps): the same for postgres.js and PGlite. */
function toArrayLiteral(values: string[]): string {
  return `{${values.map((value) => `"${value}"`).join(',')}}`;
}
