import type { FleetStatus, FleetSync, KeyEvent } from './fleet-sync.js';
import type { KeyCache } from '../../packages/member/src/key-cache.js';

/** Single-instance mode: the only cache is this process's, so announcing is applying. */
export class LocalFleetSync implements FleetSync {
  readonly trust = { epoch: 0, isTrusted: () => true };
  readonly announcer = this;
  readonly hotStore = null;
  readonly members = null;

  constructor(private readonly cache: KeyCache) {}

  async announce(events: KeyEvent[]): Promise<void> {
    const now = Date.now();
    for (const event of events) this.cache.changed(event.keyId, event.kind, now);
  }

  status(): FleetStatus {
    return { mode: 'single-instance', trusted: true, subscribed: true, epoch: this.trust.epoch };
  }

  async close(): Promise<void> {}
}
