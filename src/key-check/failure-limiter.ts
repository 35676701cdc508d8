import type { Redis } from 'ioredis';

/** Failures of one subject in one window, not yet added to the fleet's count. */
interface PendingFailures {
  subject: string;
  window: number;
  count: number;
}

/**
 * Counts failures per subject (a client address, an email digest) and blocks
 * a subject that reaches the limit for the rest of the window. With Redis the
 * count is the fleet's: failures are summed in memory for the current turn of
 * the event loop and added with one transaction (INCRBY per subject), so a
 * flood costs one Redis round trip per turn rather than per failure, and
 * successes cost nothing. Without Redis (or while it fails) the count is this
 * process's. Used for failed key checks and failed sign-ins.
 */
export class FailureLimiter {
  private readonly blockedUntil = new Map<string, number>();
  private readonly localCounts = new Map<string, { window: number; count: number }>();
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
      this.countLocally({ subject, window, count: 1 });
      return;
    }
    const key = `${this.redis.keyPrefix}${this.redis.name}:${subject}:${window}`;
    const pending = this.pending.get(key);
    if (pending) {
      pending.count++;
      return;
    }
    if (this.pending.size === 0) setImmediate(() => this.addPendingToFleet());
    this.pending.set(key, { subject, window, count: 1 });
  }

  private addPendingToFleet(): void {
    const batch = [...this.pending];
    this.pending.clear();
    const transaction = this.redis!.connection.multi();
    for (const [key, { count }] of batch) transaction.incrby(key, count).pexpire(key, this.windowMs);
    transaction
      .exec()
      .then((results) => {
        batch.forEach(([, failures], index) => {
          const count = Number(results?.[index * 2]?.[1] ?? 0);
          if (count >= this.limit) this.block(failures.subject, this.windowEnd(failures.window));
        });
      })
      .catch(() => {
        for (const [, failures] of batch) this.countLocally(failures);
      });
  }

  private countLocally({ subject, window, count: failures }: PendingFailures): void {
    const current = this.localCounts.get(subject);
    const count = (current && current.window === window ? current.count : 0) + failures;
    this.localCounts.set(subject, { window, count });
    if (this.localCounts.size > this.maxTracked) this.localCounts.delete(this.localCounts.keys().next().value!);
    if (count >= this.limit) this.block(subject, this.windowEnd(window));
  }

  private windowEnd(window: number): number {
    return (window + 1) * this.windowMs;
  }

  private block(subject: string, until: number): void {
    this.blockedUntil.set(subject, until);
    if (this.blockedUntil.size > this.maxTracked) this.blockedUntil.delete(this.blockedUntil.keys().next().value!);
  }
}
