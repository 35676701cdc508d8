import { ServerBusy } from '../http/errors.js';

/**
 * Who is asking for argon2 work. Key checks protect an API fleet's running traffic, so they always go
 * first; account operations (sign-up, sign-in, key creation and rotation, an operator's pasted key) wait
 * behind every queued key check.
 */
export type Argon2Priority = 'key-check' | 'account';

export interface Argon2PoolLimits {
  /** Tasks running at once (KEYWARD_ARGON2_CONCURRENCY). */
  concurrency: number;
  /** Key checks that may wait (KEYWARD_ARGON2_QUEUE_MAX); beyond it they are refused at once. */
  keyCheckQueueMax: number;
  /** Account operations that may wait (KEYWARD_ARGON2_ACCOUNT_QUEUE_MAX); beyond it refused at once. */
  accountQueueMax: number;
  /** Longest an account operation waits for a slot (KEYWARD_ARGON2_ACCOUNT_WAIT_MS); then it is refused. */
  accountWaitMs: number;
}

interface Waiter {
  start(): void;
  timer?: NodeJS.Timeout;
}

/** What the pool has done, for tests and metrics. */
export interface Argon2PoolStats {
  running: number;
  waiting: Record<Argon2Priority, number>;
  /** Tasks started, in the order they started. */
  started: Record<Argon2Priority, number>;
  /** Tasks refused at once (queue full) or after waiting too long. */
  refused: Record<Argon2Priority, number>;
}

/**
 * Runs at most `concurrency` argon2 tasks at once with two bounded queues. A freed slot goes to the oldest
 * waiting key check, and only when none waits to the oldest account operation. Nothing waits without
 * bound: a full queue refuses at once, and an account operation that waited `accountWaitMs` (a flood of
 * key checks keeps it behind) is refused, so its request answers 503 before its caller gives up.
 */
export class Argon2Pool {
  private running = 0;
  private readonly queues: Record<Argon2Priority, Waiter[]> = { 'key-check': [], account: [] };
  private readonly startedCount: Record<Argon2Priority, number> = { 'key-check': 0, account: 0 };
  private readonly refusedCount: Record<Argon2Priority, number> = { 'key-check': 0, account: 0 };

  constructor(private readonly limits: Argon2PoolLimits) {}

  stats(): Argon2PoolStats {
    return {
      running: this.running,
      waiting: { 'key-check': this.queues['key-check'].length, account: this.queues.account.length },
      started: { ...this.startedCount },
      refused: { ...this.refusedCount },
    };
  }

  async run<T>(priority: Argon2Priority, task: () => Promise<T>): Promise<T> {
    // Waiters exist only while every slot is taken: a freed slot is handed to one directly.
    if (this.running >= this.limits.concurrency) {
      await this.wait(priority);
    } else {
      this.running++;
    }
    this.startedCount[priority]++;
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private wait(priority: Argon2Priority): Promise<void> {
    const queue = this.queues[priority];
    const queueMax = priority === 'key-check' ? this.limits.keyCheckQueueMax : this.limits.accountQueueMax;
    if (queue.length >= queueMax) {
      this.refusedCount[priority]++;
      return Promise.reject(this.busy());
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
      };
      if (priority === 'account') {
        waiter.timer = setTimeout(() => {
          const index = queue.indexOf(waiter);
          if (index === -1) return;
          queue.splice(index, 1);
          this.refusedCount[priority]++;
          reject(this.busy());
        }, this.limits.accountWaitMs);
      }
      queue.push(waiter);
    });
  }

  /** A full queue, or an account operation that waited its longest: 503 with Retry-After, never a wait on. */
  private busy(): Error {
    return Object.assign(new ServerBusy(), {
      retryAfterSeconds: Math.max(1, Math.ceil(this.limits.accountWaitMs / 1000)),
    });
  }

  /** Hands the freed slot on (the running count stays) or gives it back. */
  private release(): void {
    const next = this.queues['key-check'].shift() ?? this.queues.account.shift();
    if (next) next.start();
    else this.running--;
  }
}
