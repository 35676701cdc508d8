import type { Redis } from 'ioredis';

/**
 * Counts failures per subject (a client address, an email digest) and blocks
 * a subject that reaches the limit for the rest of the window. With Redis the
 * count is the fleet's (one INCR per failure, never per success); without,
 * this process's. Used for failed key checks and failed sign-ins.
 */
export class FailureLimiter {
  private readonly blockedUntil = new Map<string, number>();
  private readonly localCounts = new Map<string, { window: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    /** `name` keeps each limiter's counters apart: keys read `<keyPrefix><name>:<subject>:<window>`. */
    private readonly redis: { connection: Redis; keyPrefix: string; name: string } | null,
    /** Most subjects tracked in memory. */
    private readonly maxTracked = 100_000,
  ) {}

  /** Milliseconds until the subject may try again, or 0 when it is not blocked. */
  retryAfterMs(address: string, now: number): number {
    const until = this.blockedUntil.get(address);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.blockedUntil.delete(address);
    return 0;
  }

  recordFailure(address: string, now: number): void {
    const window = Math.floor(now / this.windowMs);
    const windowEnd = (window + 1) * this.windowMs;
    if (this.redis) {
      const key = `${this.redis.keyPrefix}${this.redis.name}:${address}:${window}`;
      this.redis.connection
        .multi()
        .incr(key)
        .pexpire(key, this.windowMs)
        .exec()
        .then((results) => {
          const count = Number(results?.[0]?.[1] ?? 0);
          if (count >= this.limit) this.block(address, windowEnd);
        })
        .catch(() => this.countLocally(address, window, windowEnd));
    } else {
      this.countLocally(address, window, windowEnd);
    }
  }

  private countLocally(address: string, window: number, windowEnd: number): void {
    const current = this.localCounts.get(address);
    const count = current && current.window === window ? current.count + 1 : 1;
    this.localCounts.set(address, { window, count });
    if (this.localCounts.size > this.maxTracked) this.localCounts.delete(this.localCounts.keys().next().value!);
    if (count >= this.limit) this.block(address, windowEnd);
  }

  private block(address: string, until: number): void {
    this.blockedUntil.set(address, until);
    if (this.blockedUntil.size > this.maxTracked) this.blockedUntil.delete(this.blockedUntil.keys().next().value!);
  }
}
