import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { FleetAnnouncer } from './fleet-announcer.js';
import { FleetLease, type CacheTrust } from '../../packages/member/src/fleet-lease.js';
import { connectRedis, FleetKeys, type AckMessage, type ScriptedRedis } from './fleet-protocol.js';
import type { FleetStatus, FleetSync, MemberRelay } from './fleet-sync.js';
import type { KeyCache } from '../../packages/member/src/key-cache.js';
import { relayUnpublished, type KeyEventLog } from './key-event-log.js';
import { RedisHotSet } from './redis-hot-set.js';
import { keyEventMessageOf } from '../../packages/member/src/fleet-messages.js';

export interface RedisFleetSyncOptions {
  redisUrl: string;
  keyPrefix: string;
  cache: KeyCache;
  eventLog: KeyEventLog;
  log: FastifyBaseLogger;
  leaseMs: number;
  /** Timeout of hot-path commands (lookups, fills). */
  hotTimeoutMs: number;
  hotSetTtlMs: number;
  relayIntervalMs: number;
  revokeConfirmTimeoutMs: number;
}

/** How often a cache's record of recent changes is pruned. */
const PRUNE_CHANGES_EVERY_MS = 60_000;

/**
 * Fleet mode: the parts wired to three Redis connections.
 * - `hot` (timeout KEYWARD_REDIS_TIMEOUT_MS): the hot set (redis-hot-set.ts), and the failed-check limiter.
 * - `control`: heartbeats (fleet-lease.ts), announcements and acks (fleet-announcer.ts), the key event log's relay
 *   (key-event-log.ts).
 * - `subscriber`: key events, this instance's echoes and acks, routed below. Losing it ends the lease at once.
 */
export class RedisFleetSync implements FleetSync {
  readonly instanceId = randomUUID();
  readonly hotStore: RedisHotSet;
  private readonly keys: FleetKeys;
  private readonly hot: ScriptedRedis;
  private readonly control: ScriptedRedis;
  private readonly subscriber: ScriptedRedis;
  private readonly lease: FleetLease;
  readonly announcer: FleetAnnouncer;
  private subscribed = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(private readonly options: RedisFleetSyncOptions) {
    const log = options.log;
    this.keys = new FleetKeys(options.keyPrefix, this.instanceId);
    this.hot = connectRedis(options.redisUrl, { commandTimeout: options.hotTimeoutMs, connectionName: 'keyward-hot' });
    this.control = connectRedis(options.redisUrl, {
      commandTimeout: Math.max(options.hotTimeoutMs, 1000),
      connectionName: 'keyward-control',
    });
    // Subscribes itself on every (re)connect, so a failed first connect is no special case.
    this.subscriber = connectRedis(options.redisUrl, { connectionName: 'keyward-subscriber', autoResubscribe: false });
    this.hotStore = new RedisHotSet(this.hot, this.keys, options.hotSetTtlMs);
    this.lease = new FleetLease(
      options.leaseMs,
      (nonce) =>
        this.control.keywardHeartbeat(this.keys.registry, this.keys.echo, this.instanceId, options.leaseMs, nonce),
      (error) => log.debug({ err: error }, 'heartbeat failed'),
    );
    this.announcer = new FleetAnnouncer({
      ...options,
      instanceId: this.instanceId,
      redis: this.control,
      keys: this.keys,
    });

    for (const redis of [this.hot, this.control, this.subscriber]) {
      redis.on('error', (error: Error) => log.debug({ err: error }, 'redis connection error'));
    }
    this.subscriber.on('close', () => this.loseSubscription());
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(this.keys.events, this.keys.echo, this.keys.acks)
        .then(() => {
          this.subscribed = true;
          void this.heartbeat();
        })
        .catch((error: Error) => log.debug({ err: error }, 'subscribe failed'));
    });
    this.subscriber.on('message', (channel: string, message: string) => this.route(channel, message));
  }

  /** Connects and subscribes; resolves once the first lease is held (or after `leaseMs` without one). */
  static async start(options: RedisFleetSyncOptions): Promise<RedisFleetSync> {
    const sync = new RedisFleetSync(options);
    const renewEvery = Math.max(10, Math.floor(options.leaseMs / 6));
    sync.timers.push(
      setInterval(() => void sync.heartbeat(), renewEvery),
      setInterval(() => void sync.relay(), options.relayIntervalMs),
      setInterval(() => options.cache.pruneChanges(Date.now()), PRUNE_CHANGES_EVERY_MS),
    );
    for (const timer of sync.timers) timer.unref();
    if (!(await sync.lease.held(options.leaseMs))) {
      options.log.warn('redis unavailable at start: checking keys against Postgres until it returns');
    }
    return sync;
  }

  get trust(): CacheTrust {
    return this.lease;
  }

  status(): FleetStatus {
    return { mode: 'redis', trusted: this.lease.isTrusted(), subscribed: this.subscribed, epoch: this.lease.epoch };
  }

  readonly members: MemberRelay = {
    channels: (instanceId) => ({
      events: this.keys.events,
      echo: this.keys.echoOf(instanceId),
      acksPrefix: this.keys.acksPrefix,
      memberRevocations: this.keys.memberRevocations,
      leaseMs: this.options.leaseMs,
    }),
    renew: async (instanceId, nonce) => {
      const { registry } = this.keys;
      await this.control.keywardHeartbeat(
        registry,
        this.keys.echoOf(instanceId),
        instanceId,
        this.options.leaseMs,
        nonce,
      );
    },
    leave: async (instanceId) => {
      await this.control.zrem(this.keys.registry, instanceId);
    },
    memberRevoked: async (memberId) => {
      await this.control.publish(this.keys.memberRevocations, memberId);
    },
  };

  /** The hot-path connection, shared with the failed-check limiter. */
  get hotConnection(): Redis {
    return this.hot;
  }

  private async heartbeat(): Promise<void> {
    if (!this.closed && this.subscribed) await this.lease.heartbeat();
  }

  private async relay(): Promise<void> {
    if (this.closed || !this.subscribed) return;
    await relayUnpublished(this.options.eventLog, (events) => this.announcer.publish(events), this.options.log);
  }

  private loseSubscription(): void {
    if (this.subscribed) {
      this.options.log.warn('redis subscription lost: in-process key cache untrusted until resynchronised');
    }
    this.subscribed = false;
    this.lease.lose();
  }

  private route(channel: string, message: string): void {
    if (channel === this.keys.echo) return this.lease.onEcho(message);
    try {
      if (channel === this.keys.acks) this.announcer.onAck(JSON.parse(message) as AckMessage);
      else if (channel === this.keys.events) {
        const event = keyEventMessageOf(message);
        if (event === null) this.options.log.warn({ channel }, 'ignored malformed key-events message');
        else this.announcer.receive(event);
      }
    } catch (error) {
      this.options.log.warn({ err: error, channel }, 'ignored malformed message');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.control.zrem(this.keys.registry, this.instanceId).catch(() => {});
    this.subscriber.removeAllListeners('close');
    for (const redis of [this.hot, this.control, this.subscriber]) redis.disconnect();
  }
}
