import { performance } from 'node:perf_hooks';

/** What an in-process key cache may be believed under: a lease, or a single instance's own word. */
export interface CacheTrust {
  /** Bumped whenever events may have been missed: cache entries of an older epoch must be re-confirmed. */
  readonly epoch: number;
  isTrusted(): boolean;
}

/**
 * This instance's lease on its in-process cache. A heartbeat renews the
 * instance in Redis' registry and publishes a nonce to the instance itself;
 * the cache may be trusted until `leaseMs` after the heartbeat whose echo
 * came back. Echoes travel on the same subscription as key events, and Redis
 * delivers a subscription's messages in order, so an echo proves every event
 * published before its heartbeat has been applied. An announcer that gets no
 * acknowledgement from an instance waits out that instance's lease instead.
 */
export class FleetLease implements CacheTrust {
  private trustUntil = 0;
  private currentEpoch = 1;
  /** Heartbeats sent and not yet echoed: nonce → when sent (performance.now()). */
  private readonly pendingEchoes = new Map<string, number>();
  private echoCounter = 0;
  private readonly heldWaiters = new Set<() => void>();

  constructor(
    private readonly leaseMs: number,
    /** Renews the registry entry and publishes `nonce` to this instance's echo channel. */
    private readonly renew: (nonce: string) => Promise<unknown>,
    private readonly onRenewFailed: (error: unknown) => void,
  ) {}

  /** Bumped whenever events may have been missed: cache entries of an older epoch must be re-confirmed. */
  get epoch(): number {
    return this.currentEpoch;
  }

  isTrusted(): boolean {
    return performance.now() < this.trustUntil;
  }

  async heartbeat(): Promise<void> {
    const nonce = String(++this.echoCounter);
    const sentAt = performance.now();
    this.pendingEchoes.set(nonce, sentAt);
    for (const [old, at] of this.pendingEchoes) {
      if (sentAt - at > this.leaseMs) this.pendingEchoes.delete(old);
    }
    try {
      await this.renew(nonce);
    } catch (error) {
      this.onRenewFailed(error);
    }
  }

  onEcho(nonce: string): void {
    const sentAt = this.pendingEchoes.get(nonce);
    if (sentAt === undefined) return;
    this.pendingEchoes.delete(nonce);
    // A gap in the lease means events may have been missed: entries cached before must be re-confirmed.
    if (sentAt > this.trustUntil) this.currentEpoch++;
    this.trustUntil = Math.max(this.trustUntil, sentAt + this.leaseMs);
    for (const resolve of this.heldWaiters) resolve();
  }

  /** The subscription dropped: events may be lost from now on, so trust ends at once. */
  lose(): void {
    this.trustUntil = 0;
    this.currentEpoch++;
  }

  /** Resolves true once the lease is held, or false after `timeoutMs` without it. */
  held(timeoutMs: number): Promise<boolean> {
    if (this.isTrusted()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (held: boolean) => {
        clearTimeout(timer);
        this.heldWaiters.delete(onHeld);
        resolve(held);
      };
      const onHeld = () => done(true);
      const timer = setTimeout(() => done(this.isTrusted()), timeoutMs);
      this.heldWaiters.add(onHeld);
    });
  }
}
