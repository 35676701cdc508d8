import { Redis } from 'ioredis';
import { keyEventMessageOf, type AckMessage, type MemberJoin } from './fleet-messages.js';
import { FleetLease } from './fleet-lease.js';
import type { KeyCache } from './key-cache.js';
import type { KeywardClient } from './keyward-client.js';
import { MemberError } from './member-error.js';
import type { MemberLog } from './member-log.js';

type FleetChannels = NonNullable<MemberJoin['fleet']>;

export interface FleetMembershipOptions {
  redisUrl: string;
  channels: FleetChannels;
  memberId: string;
  instanceId: string;
  keyward: KeywardClient;
  cache: KeyCache<unknown>;
  log: MemberLog;
  /** The operator revoked this member's credential: stop checking keys. */
  onCredentialRevoked: () => void;
  /** Longest `join` waits for Redis and the first lease. */
  joinTimeoutMs: number;
}

/**
 * This process as a member of keyward's fleet, with the least rights in Redis:
 * it listens (key events, its own heartbeat echoes, member revocations) and
 * acknowledges announcements; it writes nothing. Its registry entry is renewed
 * by keyward (`POST /v1/fleet/heartbeat`), which publishes the echo that
 * proves, in order on this subscription, that every earlier event arrived
 * (see FleetLease). An announcer waits for this process's acknowledgement or
 * the end of its lease, so a revoke call returns only once this process
 * refuses the key.
 */
export class FleetMembership {
  private readonly subscriber: Redis;
  private readonly publisher: Redis;
  private readonly lease: FleetLease;
  private readonly timer: NodeJS.Timeout;
  private subscribed = false;
  private closed = false;
  private lastError: unknown;

  private constructor(private readonly options: FleetMembershipOptions) {
    const { channels, keyward, instanceId, log } = options;
    const redisOptions = {
      // Never queue commands while disconnected, never retry them: an ack that cannot go now is not needed later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      autoResubscribe: false,
      // The ready check runs INFO, which the member's ACL user may not run (and needs not).
      enableReadyCheck: false,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    };
    this.subscriber = new Redis(options.redisUrl, { ...redisOptions, connectionName: 'keyward-member-subscriber' });
    this.publisher = new Redis(options.redisUrl, { ...redisOptions, connectionName: 'keyward-member-acks' });
    this.lease = new FleetLease(
      channels.leaseMs,
      (nonce) => keyward.post('/v1/fleet/heartbeat', { instanceId, nonce }),
      (error) => this.heartbeatFailed(error),
    );
    for (const redis of [this.subscriber, this.publisher]) {
      redis.on('error', (error: Error) => {
        this.lastError = error;
      });
    }
    this.subscriber.on('close', () => {
      if (this.subscribed && !this.closed) {
        log.warn(
          { err: this.lastError },
          'keyward: Redis subscription lost; uncached and cached keys are checked with keyward until it returns',
        );
      }
      this.subscribed = false;
      this.lease.lose();
    });
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(channels.events, channels.echo, channels.memberRevocations)
        .then(() => {
          this.subscribed = true;
          void this.heartbeat();
        })
        .catch((error: unknown) => {
          this.lastError = error;
        });
    });
    this.subscriber.on('message', (channel: string, message: string) => this.route(channel, message));
    this.timer = setInterval(() => void this.heartbeat(), Math.max(10, Math.floor(channels.leaseMs / 4)));
    this.timer.unref();
  }

  /** Joins, or fails with the cause once `joinTimeoutMs` passed without a confirmed lease. */
  static async join(options: FleetMembershipOptions): Promise<FleetMembership> {
    const membership = new FleetMembership(options);
    if (await membership.lease.held(options.joinTimeoutMs)) return membership;
    const cause = membership.lastError;
    await membership.close();
    if (cause instanceof MemberError) throw cause;
    if (!membership.subscribed) {
      throw new MemberError(
        'KW_REDIS_UNAVAILABLE',
        'could not listen to the fleet in Redis (unreachable, wrong password, or the member user lacks the ACL rights in docs/fleet-members.md)',
        cause,
      );
    }
    throw new MemberError('KW_FLEET_JOIN_FAILED', 'joined Redis, but no heartbeat echo came back', cause);
  }

  get epoch(): number {
    return this.lease.epoch;
  }

  isTrusted(): boolean {
    return this.lease.isTrusted();
  }

  private async heartbeat(): Promise<void> {
    if (!this.closed && this.subscribed) await this.lease.heartbeat();
  }

  private heartbeatFailed(error: unknown): void {
    this.lastError = error;
    if (error instanceof MemberError && error.code === 'KW_MEMBER_CREDENTIAL_REFUSED')
      this.options.onCredentialRevoked();
  }

  private route(channel: string, raw: string): void {
    const { channels, cache } = this.options;
    if (channel === channels.echo) return this.lease.onEcho(raw);
    if (channel === channels.memberRevocations) {
      if (raw === this.options.memberId) this.options.onCredentialRevoked();
      return;
    }
    const message = keyEventMessageOf(raw);
    if (message === null) return; // a newer release's message: Postgres (through keyward) decides instead
    const now = Date.now();
    for (const change of message.ev) cache.changed(change.id, change.k, now);
    const ack: AckMessage = { r: message.r, i: this.options.instanceId };
    // Unacknowledged, the announcer waits out this process's lease instead.
    this.publisher.publish(`${channels.acksPrefix}${message.f}`, JSON.stringify(ack)).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.lease.lose();
    this.subscriber.removeAllListeners('close');
    this.subscriber.disconnect();
    this.publisher.disconnect();
    // Leaving the registry spares announcers a wait for this process's lease; if it fails, the lease just ends.
    await this.options.keyward.post('/v1/fleet/leave', { instanceId: this.options.instanceId }).catch(() => {});
  }
}
