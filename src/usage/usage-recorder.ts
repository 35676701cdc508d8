import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'drizzle-orm';
import { boundedTransaction, type Database, type TransactionLimits } from '../db/database.js';
import { keyCallers, keyRejectedCallers, keyUsage, usageFlushes } from '../db/schema.js';
import { detached } from '../keys/key-format.js';
import { settleWithin, TIMED_OUT } from '../timeouts.js';
import { toArrayLiteral } from '../db/driver-results.js';

interface CallerCount {
  /** The address and user agent it is counted under (its keys in CallerCounts). */
  address: string;
  agent: string;
  requests: number;
  firstSeen: number;
  lastSeen: number;
}

/** client address → user agent → count */
type CallerCounts = Map<string, Map<string, CallerCount>>;

interface KeyCounts {
  accountId: string;
  /** Requests accepted with the key. */
  requests: number;
  /** Latest accepted request, or 0. */
  lastSeen: number;
  callers: CallerCounts;
  /** Requests refused because the key is revoked or expired (sent with its right secret). */
  rejected: number;
  /** Latest rejected request, or 0. */
  lastRejected: number;
  rejectedCallers: CallerCounts;
  /** Distinct callers in both maps. */
  callerCount: number;
  /**
   * The caller of the latest request counted in each map: a client sending a
   * key again is counted without looking its address and user agent up (a
   * user agent is a fresh string per request, so a lookup hashes it again).
   */
  lastCaller: CallerCount | undefined;
  lastRejectedCaller: CallerCount | undefined;
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

/** The user agent a request is counted under. */
function agentOf(userAgent: string | undefined): string {
  if (userAgent === undefined) return '';
  return userAgent.length > MAX_USER_AGENT_LENGTH ? userAgent.slice(0, MAX_USER_AGENT_LENGTH) : userAgent;
}

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

  /** Counts a request accepted with the key. */
  record(keyId: string, accountId: string, clientAddress: string, userAgent: string | undefined, now: number): void {
    const counts = this.countsOf(keyId, accountId, now);
    if (counts === undefined) return;
    counts.requests++;
    counts.lastSeen = now;
    const last = counts.lastCaller;
    if (last !== undefined && last.address === clientAddress && last.agent === agentOf(userAgent)) {
      last.requests++;
      last.lastSeen = now;
      return;
    }
    counts.lastCaller = this.countCaller(counts, counts.callers, clientAddress, userAgent, now);
  }

  /** Counts a request refused because the key is revoked or expired. */
  recordRejected(
    keyId: string,
    accountId: string,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
  ): void {
    const counts = this.countsOf(keyId, accountId, now);
    if (counts === undefined) return;
    counts.rejected++;
    counts.lastRejected = now;
    const last = counts.lastRejectedCaller;
    if (last !== undefined && last.address === clientAddress && last.agent === agentOf(userAgent)) {
      last.requests++;
      last.lastSeen = now;
      return;
    }
    counts.lastRejectedCaller = this.countCaller(counts, counts.rejectedCallers, clientAddress, userAgent, now);
  }

  /** The key's counts for the current minute, or undefined when the bound on keys is reached. */
  private countsOf(keyId: string, accountId: string, now: number): KeyCounts | undefined {
    const minute = Math.floor(now / MINUTE_MS);
    if (minute !== this.current.minute) {
      if (this.current.keys.size > 0) this.pending.push(this.current);
      this.current = { minute, keys: new Map() };
    }
    let counts = this.current.keys.get(keyId);
    if (counts === undefined) {
      if (this.current.keys.size >= this.options.maxKeysPerMinute) {
        this.uncounted++;
        return undefined;
      }
      counts = {
        accountId,
        requests: 0,
        lastSeen: 0,
        callers: new Map(),
        rejected: 0,
        lastRejected: 0,
        rejectedCallers: new Map(),
        callerCount: 0,
        lastCaller: undefined,
        lastRejectedCaller: undefined,
      };
      this.current.keys.set(detached(keyId), counts);
    }
    return counts;
  }

  /** Counts the request under its caller; returns that caller, or undefined when the bound on callers is reached. */
  private countCaller(
    counts: KeyCounts,
    callers: CallerCounts,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
  ): CallerCount | undefined {
    const agent = agentOf(userAgent);
    let byAgent = callers.get(clientAddress);
    let caller = byAgent?.get(agent);
    if (caller === undefined) {
      if (counts.callerCount >= this.options.maxCallersPerKey) return undefined;
      if (byAgent === undefined) {
        byAgent = new Map();
        callers.set(clientAddress, byAgent);
      }
      caller = { address: clientAddress, agent, requests: 0, firstSeen: now, lastSeen: now };
      byAgent.set(agent, caller);
      counts.callerCount++;
    }
    caller.requests++;
    caller.lastSeen = now;
    return caller;
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
    const usageRows = new Map<string, UsageRow>();
    const addUsage = (keyId: string, counts: KeyCounts, granularity: 'minute' | 'hour', bucket: number) => {
      const rowId = `${keyId}@${granularity}@${bucket}`;
      const row = usageRows.get(rowId);
      if (row) {
        row.requests += counts.requests;
        row.rejected += counts.rejected;
      } else {
        const { accountId, requests, rejected } = counts;
        usageRows.set(rowId, { keyId, accountId, granularity, bucketStart: new Date(bucket), requests, rejected });
      }
    };
    const lastSeen = new Map<string, { used: number; rejected: number }>();
    for (const { minute, keys } of minutes) {
      for (const [keyId, counts] of keys) {
        addUsage(keyId, counts, 'minute', minute * MINUTE_MS);
        addUsage(keyId, counts, 'hour', Math.floor((minute * MINUTE_MS) / HOUR_MS) * HOUR_MS);
        const seen = lastSeen.get(keyId) ?? { used: 0, rejected: 0 };
        lastSeen.set(keyId, {
          used: Math.max(seen.used, counts.lastSeen),
          rejected: Math.max(seen.rejected, counts.lastRejected),
        });
      }
    }
    // Rows in primary-key order: two instances flushing the same keys then lock them in the same order
    // and cannot deadlock each other.
    const usageValues = [...usageRows.values()].sort(
      (a, b) =>
        compare(a.keyId, b.keyId) ||
        compare(a.granularity, b.granularity) ||
        a.bucketStart.getTime() - b.bucketStart.getTime(),
    );
    const acceptedCallers = callerRows(minutes, (counts) => counts.callers);
    const rejectedCallers = callerRows(minutes, (counts) => counts.rejectedCallers);
    const ids = [...lastSeen.keys()].sort(compare);
    const timesOf = (pick: 'used' | 'rejected') =>
      ids.map((id) => {
        const time = lastSeen.get(id)![pick];
        return time === 0 ? null : new Date(time).toISOString();
      });
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
          set: {
            requests: sql`${keyUsage.requests} + excluded.requests`,
            rejected: sql`${keyUsage.rejected} + excluded.rejected`,
          },
        });
      for (const [table, values] of [
        [keyCallers, acceptedCallers],
        [keyRejectedCallers, rejectedCallers],
      ] as const) {
        if (values.length === 0) continue;
        await tx
          .insert(table)
          .values(values)
          .onConflictDoUpdate({
            target: [table.keyId, table.clientAddress, table.userAgent],
            set: {
              requests: sql`${table.requests} + excluded.requests`,
              firstSeenAt: sql`LEAST(${table.firstSeenAt}, excluded.first_seen_at)`,
              lastSeenAt: sql`GREATEST(${table.lastSeenAt}, excluded.last_seen_at)`,
            },
          });
      }
      // GREATEST ignores NULLs: a key only used (or only refused) in this batch keeps its other time.
      await tx.execute(sql`
        UPDATE api_keys SET last_used_at = GREATEST(api_keys.last_used_at, v.used),
          last_rejected_at = GREATEST(api_keys.last_rejected_at, v.rejected)
        FROM unnest(${toArrayLiteral(ids)}::text[], ${toArrayLiteral(timesOf('used'))}::timestamptz[],
          ${toArrayLiteral(timesOf('rejected'))}::timestamptz[]) AS v(id, used, rejected)
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
  const settled = await settleWithin(
    promise.then(
      () => 'written' as const,
      (error: unknown) => ({ error }),
    ),
    ms,
  );
  return settled === TIMED_OUT ? 'timeout' : settled;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface UsageRow {
  keyId: string;
  accountId: string;
  granularity: 'minute' | 'hour';
  bucketStart: Date;
  requests: number;
  rejected: number;
}

/** One row per (key, address, user agent) over the minutes of a batch, in primary-key order. */
function callerRows(minutes: MinuteCounts[], callersOf: (counts: KeyCounts) => CallerCounts) {
  const rows = new Map<
    string,
    {
      keyId: string;
      accountId: string;
      clientAddress: string;
      userAgent: string;
      firstSeenAt: Date;
      lastSeenAt: Date;
      requests: number;
    }
  >();
  for (const { keys } of minutes) {
    for (const [keyId, counts] of keys) {
      for (const [address, byAgent] of callersOf(counts)) {
        for (const [agent, count] of byAgent) {
          const rowId = `${keyId}\n${address}\n${agent}`;
          const row = rows.get(rowId);
          if (row) {
            row.requests += count.requests;
            if (count.firstSeen < row.firstSeenAt.getTime()) row.firstSeenAt = new Date(count.firstSeen);
            if (count.lastSeen > row.lastSeenAt.getTime()) row.lastSeenAt = new Date(count.lastSeen);
          } else {
            rows.set(rowId, {
              keyId,
              accountId: counts.accountId,
              // Postgres text cannot hold NUL; Node's parser refuses it in headers, but never let one stop every flush.
              clientAddress: address.replaceAll('\u0000', ''),
              userAgent: agent.replaceAll('\u0000', ''),
              firstSeenAt: new Date(count.firstSeen),
              lastSeenAt: new Date(count.lastSeen),
              requests: count.requests,
            });
          }
        }
      }
    }
  }
  return [...rows.values()].sort(
    (a, b) =>
      compare(a.keyId, b.keyId) || compare(a.clientAddress, b.clientAddress) || compare(a.userAgent, b.userAgent),
  );
}
