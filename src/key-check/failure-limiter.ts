import type { Redis } from 'ioredis';

/** Failures of one subject in one window, not yet added to the fleet's count. */
interface PendingFailures {
  subject: string;
  window: number;
  count: number;
  /** The clock reading of the latest of them. */
  now: number;
}

/** One subject's failures in this process: in its latest window, and in the window before that one. */
interface LocalCount {
  window: number;
  count: number;
  previous: number;
}

/**
 * Counts failures per subject (a client address, an email digest) and blocks
 * a subject whose failures over the last window's length reach the limit.
 *
 * The count is a sliding estimate over two fixed windows: the current
 * window's failures plus the previous window's, weighted by how much of the
 * previous window is still inside the last `windowMs` (Cloudflare's rate
 * limiter counts this way). A fixed window alone let a burst that crossed a
 * window's edge send up to twice the limit, and let a test's 150 guesses in
 * a second pass unlimited when the edge split them 75/75. A blocked subject
 * stays blocked until the estimate, with no further failures, falls below
 * the limit; then it may fail about `limit` times per window.
 *
 * With Redis the count is the fleet's: failures are summed in memory for the
 * current turn of the event loop and added with one transaction (INCRBY per
 * subject, and a GET of the previous window), so a flood costs one Redis
 * round trip per turn rather than per failure, and successes cost nothing.
 * Without Redis (or while it fails) the count is this process's. Used for
 * failed key checks and failed sign-ins.
 */
export class FailureLimiter {
  private readonly blockedUntil = new Map<string, number>();
  private readonly localCounts = new Map<string, LocalCount>();
  /** Redis key → failures to add at the end of this turn. */
  private readonly pending = new Map<string, PendingFailures>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    /** `name` keeps each limiter's counters apart: keys read `<keyPrefix><name>:<subject>:<window>`. */
    private readonly redis: { connection: Redis; keyPrefix: string; name: string } | null,
    /** The subject a caller is counted under (client addresses: per IPv6 network, see clientSubjects). */
    private readonly subjectOf: (subject: string) => string = (subject) => subject,
    /** Most subjects tracked in memory. */
    private readonly maxTracked = 100_000,
  ) {}

  /** Milliseconds until the subject may try again, or 0 when it is not blocked. */
  retryAfterMs(caller: string, now: number): number {
    if (this.blockedUntil.size === 0) return 0;
    const subject = this.subjectOf(caller);
    const until = this.blockedUntil.get(subject);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.blockedUntil.delete(subject);
    return 0;
  }

  recordFailure(caller: string, now: number): void {
    const subject = this.subjectOf(caller);
    const window = Math.floor(now / this.windowMs);
    if (!this.redis) {
      this.countLocally({ subject, window, count: 1, now });
      return;
    }
    const key = this.redisKey(subject, window);
    const pending = this.pending.get(key);
    if (pending) {
      pending.count++;
      pending.now = now;
      return;
    }
    if (this.pending.size === 0) setImmediate(() => this.addPendingToFleet());
    this.pending.set(key, { subject, window, count: 1, now });
  }

  private redisKey(subject: string, window: number): string {
    return `${this.redis!.keyPrefix}${this.redis!.name}:${subject}:${window}`;
  }

  private addPendingToFleet(): void {
    const batch = [...this.pending];
    this.pending.clear();
    const transaction = this.redis!.connection.multi();
    for (const [key, { subject, window, count }] of batch) {
      // A window's count is read while the next window is current: it lives for two windows.
      transaction
        .incrby(key, count)
        .pexpire(key, 2 * this.windowMs)
        .get(this.redisKey(subject, window - 1));
    }
    transaction
      .exec()
      .then((results) => {
        batch.forEach(([, failures], index) => {
          const count = Number(results?.[index * 3]?.[1] ?? 0);
          const previous = Number(results?.[index * 3 + 2]?.[1] ?? 0);
          this.blockIfOverLimit(failures.subject, failures.window, previous, count, failures.now);
        });
      })
      .catch(() => {
        for (const [, failures] of batch) this.countLocally(failures);
      });
  }

  private countLocally({ subject, window, count: failures, now }: PendingFailures): void {
    let counts = this.localCounts.get(subject);
    if (counts === undefined || window > counts.window) {
      counts = { window, count: failures, previous: counts?.window === window - 1 ? counts.count : 0 };
      this.localCounts.delete(subject); // re-inserted last: the oldest subject is evicted first
      this.localCounts.set(subject, counts);
      if (this.localCounts.size > this.maxTracked) this.localCounts.delete(this.localCounts.keys().next().value!);
    } else if (window === counts.window) {
      counts.count += failures;
    } else if (window === counts.window - 1) {
      counts.previous += failures; // a batch that Redis failed late, after this subject's next window began
    }
    const windowStart = counts.window * this.windowMs;
    this.blockIfOverLimit(subject, counts.window, counts.previous, counts.count, Math.max(now, windowStart));
  }

  /**
   * Blocks the subject while its estimate, `previous` weighted by the part of the previous window still
   * within the last `windowMs`, plus `count`, is at least the limit.
   */
  private blockIfOverLimit(subject: string, window: number, previous: number, count: number, now: number): void {
    const windowStart = window * this.windowMs;
    const previousWeight = 1 - (now - windowStart) / this.windowMs;
    if (previous * previousWeight + count < this.limit) return;
    // With no more failures the estimate falls as the previous window's weight does; once the current window
    // ends, its count becomes the previous one and falls in turn. Never longer than a window from now: by
    // then every failure counted so far is older than a window.
    const until =
      count < this.limit
        ? windowStart + (1 - (this.limit - count) / previous) * this.windowMs
        : windowStart + this.windowMs + (1 - this.limit / count) * this.windowMs;
    this.block(subject, Math.min(Math.floor(until) + 1, now + this.windowMs));
  }

  private block(subject: string, until: number): void {
    this.blockedUntil.set(subject, until);
    if (this.blockedUntil.size > this.maxTracked) this.blockedUntil.delete(this.blockedUntil.keys().next().value!);
  }
}
