import type { Redis } from 'ioredis';
import type { KeyEnded, KeyEndedListener } from './keys.js';

/** Carries "this key no longer works" to every instance. */
export interface RevocationBus extends KeyEndedListener {
  onKeyEnded(handler: (event: KeyEnded) => void): void;
}

/** One process: events go straight to the local handlers. */
export class InProcessRevocationBus implements RevocationBus {
  private readonly handlers: Array<(event: KeyEnded) => void> = [];

  onKeyEnded(handler: (event: KeyEnded) => void): void {
    this.handlers.push(handler);
  }

  async keysEnded(events: KeyEnded[]): Promise<void> {
    for (const event of events) for (const handler of this.handlers) handler(event);
  }
}

/** A fleet: events are published on a Redis channel every instance subscribes to. */
export class RedisRevocationBus extends InProcessRevocationBus {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {
    super();
  }

  override async keysEnded(events: KeyEnded[]): Promise<void> {
    await super.keysEnded(events);
    for (const event of events) await this.redis.publish(`${this.keyPrefix}revocations`, JSON.stringify(event));
  }
}
