import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import { RevocationPending } from '../http/errors.js';
import type { AckMessage, FleetKeys, KeyEventMessage, ScriptedRedis } from './fleet-protocol.js';
import type { KeyEvent } from './fleet-sync.js';
import type { KeyCache } from '../../packages/member/src/key-cache.js';
import type { KeyEventLog } from './key-event-log.js';

export interface FleetAnnouncerOptions {
  instanceId: string;
  /** The control connection (not the hot path's, whose timeout is tens of milliseconds). */
  redis: ScriptedRedis;
  keys: FleetKeys;
  cache: KeyCache;
  eventLog: KeyEventLog;
  log: FastifyBaseLogger;
  leaseMs: number;
  hotSetTtlMs: number;
  revokeConfirmTimeoutMs: number;
}

/** Generation counters must outlive any cold check; checks are bounded by timeouts of seconds. */
const GENERATION_TTL_MS = 10 * 60_000;
/** Slack for clock-rate differences between this process and Redis when waiting out a lease. */
const LEASE_MARGIN_MS = 25;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Both ends of an announcement: telling the fleet about committed key events
 * and waiting until none of it can act on the old state; hearing another
 * instance's announcement and acknowledging it.
 *
 * 1. `announce` applies the events to this instance's cache, then one script
 *    marks them in the hot set, publishes them and lists the live instances.
 * 2. Every instance applies them (`receive`) and acknowledges.
 * 3. `announce` resolves once every listed instance acknowledged, or the
 *    longest of their leases ran out: an instance that did not answer has
 *    stopped trusting its cache by then (see FleetLease).
 * If Redis cannot be reached, another instance relays the events from the
 * Postgres outbox (key-event-outbox.ts) and `announce` waits for that.
 */
export class FleetAnnouncer {
  private readonly ackWaiters = new Map<string, (instanceId: string) => void>();

  constructor(private readonly options: FleetAnnouncerOptions) {}

  async announce(events: KeyEvent[]): Promise<void> {
    const now = Date.now();
    for (const event of events) this.options.cache.changed(event.keyId, event.kind, now);
    const announcementId = randomUUID();
    /** Acks that arrive before the script's answer has listed the live instances. */
    const acked = new Set<string>();
    /** Then: the live instances that have not acknowledged yet, with their lease left. */
    let waiting: Map<string, number> | undefined;
    let allAcked: () => void = () => {};
    this.ackWaiters.set(announcementId, (instanceId) => {
      if (waiting === undefined) acked.add(instanceId);
      else if (waiting.delete(instanceId) && waiting.size === 0) allAcked();
    });
    try {
      let live: string[];
      try {
        live = await this.publish(events, announcementId);
      } catch (error) {
        this.options.log.warn(
          { err: error },
          'could not publish key events: waiting for another instance to relay them',
        );
        return await this.waitForRelay(events);
      }
      // Off the call's path: if this mark is lost, the outbox relay publishes the events again (harmless).
      void this.options.eventLog.markPublished(events.map((event) => event.seq)).catch(() => {});
      const leaseLeft = new Map<string, number>();
      for (let i = 0; i < live.length; i += 2) {
        const instanceId = live[i]!;
        if (instanceId !== this.options.instanceId && !acked.has(instanceId)) {
          leaseLeft.set(instanceId, Number(live[i + 1]));
        }
      }
      if (leaseLeft.size === 0) return;
      const longestLease = Math.max(...leaseLeft.values());
      waiting = leaseLeft;
      // Every live instance acknowledged (counted down, so a fleet of n costs O(n)), or the longest lease of
      // those that did not ran out (such an instance has stopped trusting its cache by then).
      let leasesEnd: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        allAcked = resolve;
        leasesEnd = setTimeout(resolve, longestLease + LEASE_MARGIN_MS);
      });
      clearTimeout(leasesEnd);
    } finally {
      this.ackWaiters.delete(announcementId);
    }
  }

  /**
   * Applies the events to the hot set and publishes them, in one script;
   * returns the live instances and their lease left, flattened.
   */
  async publish(events: KeyEvent[], announcementId = randomUUID()): Promise<string[]> {
    const { keys } = this.options;
    const message: KeyEventMessage = {
      r: announcementId,
      f: this.options.instanceId,
      ev: events.map((event) => ({ k: event.kind, id: event.keyId, e: event.expiresAt?.getTime() ?? null })),
    };
    const scriptKeys = [keys.registry, keys.events];
    const args = [JSON.stringify(message), String(GENERATION_TTL_MS), String(this.options.hotSetTtlMs)];
    for (const event of events) {
      scriptKeys.push(keys.entry(event.keyId), keys.generation(event.keyId));
      args.push(event.kind, event.expiresAt ? String(event.expiresAt.getTime()) : '');
    }
    return this.options.redis.keywardAnnounce(scriptKeys.length, ...scriptKeys, ...args);
  }

  /** Another instance's (or our own) announcement: apply it, then acknowledge it to its sender. */
  receive(message: KeyEventMessage): void {
    const now = Date.now();
    for (const change of message.ev) this.options.cache.changed(change.id, change.k, now);
    if (message.f === this.options.instanceId) return;
    const ack: AckMessage = { r: message.r, i: this.options.instanceId };
    this.options.redis.publish(this.options.keys.acksOf(message.f), JSON.stringify(ack)).catch(() => {}); // unacknowledged, the announcer waits out our lease instead
  }

  onAck(ack: AckMessage): void {
    this.ackWaiters.get(ack.r)?.(ack.i);
  }

  /**
   * Redis is unreachable from here. Another instance relays the events within
   * RELAY_AFTER_MS + relayIntervalMs; once it has, every lease taken before
   * the relay ends within leaseMs. If nobody relays in time, say so.
   */
  private async waitForRelay(events: KeyEvent[]): Promise<void> {
    const seqs = events.map((event) => event.seq);
    const deadline = performance.now() + this.options.revokeConfirmTimeoutMs;
    while (performance.now() < deadline) {
      const since = await this.options.eventLog.sincePublishedMs(seqs).catch(() => null);
      if (since !== null) return sleep(this.options.leaseMs - since + LEASE_MARGIN_MS);
      await sleep(100);
    }
    throw new RevocationPending();
  }
}
