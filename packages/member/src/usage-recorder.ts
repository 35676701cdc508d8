import { randomUUID } from 'node:crypto';
import { detached } from './key-format.js';
import { settleWithin, TIMED_OUT } from './timeouts.js';
import {
  agentOf,
  emptyTally,
  MINUTE_MS,
  type CallerCount,
  type KeyCounts,
  type MinuteCounts,
  type Tally,
} from './usage-counts.js';

/** Counts on their way to be written, under the id that makes writing them idempotent. */
interface Batch {
  id: string;
  minutes: MinuteCounts[];
  /** Once a write of it began, a batch takes no more counts: that write may yet commit. */
  tried: boolean;
}

/** Where a batch goes: Postgres in keyward's server, keyward's API in a fleet member. Idempotent per batch id. */
export type UsageBatchWriter = (batchId: string, minutes: MinuteCounts[]) => Promise<void>;

/** The part of a pino (or console-like) logger the recorder writes to. */
export interface WarningLog {
  warn(details: object, message: string): void;
}

export interface UsageRecorderOptions {
  write: UsageBatchWriter;
  log: WarningLog;
  flushIntervalMs: number;
  /** Longest a flush waits for a write; the next flush writes the batch again (idempotent). */
  flushTimeoutMs: number;
  /** Most distinct keys counted per minute per instance; beyond, requests are still served but not counted. */
  maxKeysPerMinute: number;
  /** Most distinct callers (address × user agent) kept per key per minute. */
  maxCallersPerKey: number;
}

/**
 * Counts requests per key in memory and hands them to a writer on an
 * interval, so the hot path never writes anywhere. Counts are added with
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
    if (counts !== undefined) this.count(counts, counts.accepted, clientAddress, userAgent, now);
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
    if (counts !== undefined) this.count(counts, counts.rejected, clientAddress, userAgent, now);
  }

  private count(
    counts: KeyCounts,
    tally: Tally,
    clientAddress: string,
    userAgent: string | undefined,
    now: number,
  ): void {
    tally.requests++;
    tally.last = now;
    const agent = agentOf(userAgent);
    const last = tally.lastCaller;
    if (last !== undefined && last.address === clientAddress && last.agent === agent) {
      last.requests++;
      last.lastSeen = now;
      return;
    }
    tally.lastCaller = this.countCaller(counts, tally, clientAddress, agent, now);
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
      counts = { accountId, accepted: emptyTally(), rejected: emptyTally(), callerCount: 0 };
      this.current.keys.set(detached(keyId), counts);
    }
    return counts;
  }

  /** Counts the request under its caller; returns that caller, or undefined when the bound on callers is reached. */
  private countCaller(
    counts: KeyCounts,
    { callers }: Tally,
    clientAddress: string,
    /** As counted: {@link agentOf} the request's user agent. */
    agent: string,
    now: number,
  ): CallerCount | undefined {
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
      const outcome = await settledWithin(this.options.write(batch.id, batch.minutes), this.options.flushTimeoutMs);
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
