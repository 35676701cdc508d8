import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import { Redis, type RedisOptions } from 'ioredis';
import { RevocationPending } from '../errors.js';
import type { FleetStatus, FleetSync, HotEntry, HotKeyStore, HotLookup, KeyEvent } from './fleet-sync.js';
import type { KeyCache } from './key-cache.js';

/** Where key events are recorded durably (Postgres), for the outbox relay. */
export interface KeyEventLog {
  markPublished(seqs: number[]): Promise<void>;
  /** Milliseconds since the last of these events was published, or null while any is unpublished. */
  sincePublishedMs(seqs: number[]): Promise<number | null>;
  /** Events still unpublished that were committed more than `olderThanMs` ago. */
  unpublished(olderThanMs: number, limit: number): Promise<KeyEvent[]>;
}

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

/** Generation counters must outlive any cold check; checks are bounded by timeouts of seconds. */
const GENERATION_TTL_MS = 10 * 60_000;
/** An event the revoker itself did not publish within this long is relayed by any instance. */
const RELAY_AFTER_MS = 2000;
/** Slack for clock-rate differences between this process and Redis when waiting out a lease. */
const LEASE_MARGIN_MS = 25;

const SCRIPTS = {
  /**
   * Applies key events to the hot set (each key's generation bumped, its hot
   * entry, if any, marked with the change), publishes the message for all of
   * them, and returns the live instances with the milliseconds left on each
   * one's lease: an announcement in one round trip. Atomic, so the instances
   * listed are exactly those registered when the message went out.
   * KEYS: registry, events channel, then entry and generation key per event;
   * ARGV: message, generation TTL, hot-set TTL, then kind and expiry per event.
   */
  keywardAnnounce: {
    // No numberOfKeys: it varies with the events, and is passed first at each call.
    lua: `
      local registry, channel = KEYS[1], KEYS[2]
      for i = 3, #KEYS, 2 do
        local entryKey, generationKey = KEYS[i], KEYS[i + 1]
        local kind, expiresAt = ARGV[1 + i], ARGV[2 + i]
        redis.call('INCR', generationKey)
        redis.call('PEXPIRE', generationKey, ARGV[2])
        local raw = redis.call('GET', entryKey)
        if raw then
          local entry = cjson.decode(raw)
          if kind == 'expiry_scheduled' then entry.e = tonumber(expiresAt) else entry.s = kind end
          redis.call('SET', entryKey, cjson.encode(entry), 'PX', ARGV[3])
        end
      end
      redis.call('PUBLISH', channel, ARGV[1])
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local rows = redis.call('ZRANGEBYSCORE', registry, '(' .. now, '+inf', 'WITHSCORES')
      local out = {}
      for i = 1, #rows, 2 do
        out[#out + 1] = rows[i]
        out[#out + 1] = tostring(tonumber(rows[i + 1]) - now)
      end
      return out`,
  },
  /** Sets a hot entry only if the key's generation is still the one the cold check read. */
  keywardFill: {
    numberOfKeys: 2,
    lua: `
      local generation = redis.call('GET', KEYS[2])
      if (generation or '') ~= ARGV[1] then return 0 end
      redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
      return 1`,
  },
  /**
   * Renews this instance in the registry (expiry on Redis' clock) and publishes
   * an echo to itself: receiving it proves every earlier event was received.
   */
  keywardHeartbeat: {
    numberOfKeys: 2,
    lua: `
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
      redis.call('PUBLISH', KEYS[2], ARGV[3])
      return 1`,
  },
} as const;

type ScriptedRedis = Redis & {
  /** Returns the live instances and their lease left (ms), flattened: id, ms, id, ms… */
  keywardAnnounce(numberOfKeys: number, ...keysThenArgs: string[]): Promise<string[]>;
  keywardFill(entry: string, generation: string, expected: string, value: string, ttl: number): Promise<number>;
  keywardHeartbeat(registry: string, echo: string, instanceId: string, leaseMs: number, nonce: string): Promise<number>;
};

function connect(url: string, options: RedisOptions): ScriptedRedis {
  const redis = new Redis(url, {
    // Never queue commands while disconnected and never retry them: a request
    // must not wait on a Redis that is gone (ioredis' defaults wait ~74 s).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    ...options,
  });
  for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
  return redis as ScriptedRedis;
}

const HOT_STATUSES: ReadonlySet<unknown> = new Set(['active', 'revoked', 'expired']);

/** A hot-set entry as stored, or null when it is not one this version can trust (then Postgres decides). */
function hotEntryOf(raw: string): HotEntry | null {
  try {
    const entry = JSON.parse(raw) as Partial<HotEntry>;
    const valid =
      typeof entry.d === 'string' &&
      typeof entry.a === 'string' &&
      HOT_STATUSES.has(entry.s) &&
      (entry.e === undefined || typeof entry.e === 'number');
    return valid ? (entry as HotEntry) : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

interface KeyEventMessage {
  /** Announcement id, echoed in acks. */
  r: string;
  /** Instance to ack to. */
  f: string;
  ev: Array<{ k: KeyEvent['kind']; id: string; e: number | null }>;
}

/**
 * Fleet mode. Postgres commits a change; the announcing instance bumps the
 * key in Redis' hot set, publishes the event, and waits until every live
 * instance acknowledged it or its lease ran out. An instance trusts its
 * in-process cache only while it holds a lease: its own echo came back
 * through the same subscription as the events, no longer than `leaseMs` ago.
 */
export class RedisFleetSync implements FleetSync, HotKeyStore {
  readonly instanceId = randomUUID();
  readonly hotStore: HotKeyStore = this;
  private _epoch = 1;
  private trustUntil = 0;
  private subscribed = false;
  private readonly hot: ScriptedRedis;
  private readonly control: ScriptedRedis;
  private readonly subscriber: Redis;
  private readonly pendingEchoes = new Map<string, number>();
  private readonly ackWaiters = new Map<string, (instanceId: string) => void>();
  private echoCounter = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly channels: { events: string; echo: string; acks: string; registry: string };

  private constructor(private readonly options: RedisFleetSyncOptions) {
    const prefix = options.keyPrefix;
    this.channels = {
      events: `${prefix}key-events`,
      echo: `${prefix}echo:${this.instanceId}`,
      acks: `${prefix}acks:${this.instanceId}`,
      registry: `${prefix}instances`,
    };
    this.hot = connect(options.redisUrl, { commandTimeout: options.hotTimeoutMs, connectionName: 'keyward-hot' });
    this.control = connect(options.redisUrl, {
      commandTimeout: Math.max(options.hotTimeoutMs, 1000),
      connectionName: 'keyward-control',
    });
    // Subscribes itself on every (re)connect, so a failed first connect is no special case.
    this.subscriber = connect(options.redisUrl, { connectionName: 'keyward-subscriber', autoResubscribe: false });
    for (const redis of [this.hot, this.control, this.subscriber]) {
      redis.on('error', (error: Error) => options.log.debug({ err: error }, 'redis connection error'));
    }
    this.subscriber.on('close', () => this.loseSubscription());
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(this.channels.events, this.channels.echo, this.channels.acks)
        .then(() => {
          this.subscribed = true;
          void this.heartbeat();
        })
        .catch((error: Error) => options.log.debug({ err: error }, 'subscribe failed'));
    });
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
  }

  /** Connects and subscribes; resolves once the first lease is held (or after `leaseMs` without one). */
  static async start(options: RedisFleetSyncOptions): Promise<RedisFleetSync> {
    const sync = new RedisFleetSync(options);
    const renewEvery = Math.max(10, Math.floor(options.leaseMs / 6));
    sync.timers.push(setInterval(() => void sync.heartbeat(), renewEvery));
    sync.timers.push(setInterval(() => void sync.relayUnpublished(), options.relayIntervalMs));
    sync.timers.push(setInterval(() => options.cache.pruneChanges(Date.now()), 60_000));
    for (const timer of sync.timers) timer.unref();
    const deadline = performance.now() + options.leaseMs;
    while (!sync.isTrusted() && performance.now() < deadline) await sleep(5);
    if (!sync.isTrusted())
      options.log.warn('redis unavailable at start: checking keys against Postgres until it returns');
    return sync;
  }

  get epoch(): number {
    return this._epoch;
  }

  isTrusted(): boolean {
    return performance.now() < this.trustUntil;
  }

  status(): FleetStatus {
    return { mode: 'redis', trusted: this.isTrusted(), subscribed: this.subscribed, epoch: this._epoch };
  }

  private loseSubscription(): void {
    if (this.subscribed)
      this.options.log.warn('redis subscription lost: in-process key cache untrusted until resynchronised');
    this.subscribed = false;
    this.trustUntil = 0;
    this._epoch++;
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || !this.subscribed) return;
    const nonce = String(++this.echoCounter);
    const sentAt = performance.now();
    this.pendingEchoes.set(nonce, sentAt);
    for (const [old, at] of this.pendingEchoes) {
      if (sentAt - at > this.options.leaseMs) this.pendingEchoes.delete(old);
    }
    try {
      await this.control.keywardHeartbeat(
        this.channels.registry,
        this.channels.echo,
        this.instanceId,
        this.options.leaseMs,
        nonce,
      );
    } catch (error) {
      this.options.log.debug({ err: error }, 'heartbeat failed');
    }
  }

  private onEcho(nonce: string): void {
    const sentAt = this.pendingEchoes.get(nonce);
    if (sentAt === undefined) return;
    this.pendingEchoes.delete(nonce);
    // A gap in the lease means events may have been missed: entries cached before must be re-confirmed.
    if (sentAt > this.trustUntil) this._epoch++;
    this.trustUntil = Math.max(this.trustUntil, sentAt + this.options.leaseMs);
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.channels.echo) return this.onEcho(message);
    try {
      if (channel === this.channels.acks) {
        const ack = JSON.parse(message) as { r: string; i: string };
        this.ackWaiters.get(ack.r)?.(ack.i);
      } else if (channel === this.channels.events) {
        const event = JSON.parse(message) as KeyEventMessage;
        const now = Date.now();
        for (const change of event.ev) this.options.cache.changed(change.id, change.k, now);
        if (event.f !== this.instanceId) {
          this.control
            .publish(`${this.options.keyPrefix}acks:${event.f}`, JSON.stringify({ r: event.r, i: this.instanceId }))
            .catch(() => {}); // unacknowledged, the announcer waits out our lease instead
        }
      }
    } catch (error) {
      this.options.log.warn({ err: error, channel }, 'ignored malformed message');
    }
  }

  async lookup(keyId: string): Promise<HotLookup | null> {
    try {
      const [raw, generation] = await this.hot.mget(this.entryKey(keyId), this.generationKey(keyId));
      return { entry: raw ? hotEntryOf(raw) : null, generation: generation ?? '' };
    } catch {
      return null;
    }
  }

  async fill(keyId: string, entry: HotEntry, generation: string): Promise<void> {
    try {
      await this.hot.keywardFill(
        this.entryKey(keyId),
        this.generationKey(keyId),
        generation,
        JSON.stringify(entry),
        this.options.hotSetTtlMs,
      );
    } catch {
      // the next cold check fills it
    }
  }

  async announce(events: KeyEvent[]): Promise<void> {
    const now = Date.now();
    for (const event of events) this.options.cache.changed(event.keyId, event.kind, now);
    const announcementId = randomUUID();
    const acked = new Set<string>();
    let onAck: () => void = () => {};
    this.ackWaiters.set(announcementId, (instanceId) => {
      acked.add(instanceId);
      onAck();
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
      const waits = new Map<string, number>();
      for (let i = 0; i < live.length; i += 2) {
        if (live[i] !== this.instanceId) waits.set(live[i]!, Number(live[i + 1]));
      }
      // Every live instance acknowledged, or the longest lease ran out (an instance that did not
      // answer has stopped trusting its cache by then).
      let leasesEnd: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        const check = () => {
          if ([...waits.keys()].every((id) => acked.has(id))) resolve();
        };
        onAck = check;
        check();
        leasesEnd = setTimeout(resolve, Math.max(0, ...waits.values()) + LEASE_MARGIN_MS);
      });
      clearTimeout(leasesEnd);
    } finally {
      this.ackWaiters.delete(announcementId);
    }
  }

  /** Applies the events to the hot set and publishes them, in one script; returns the live instances. */
  private async publish(events: KeyEvent[], announcementId: string): Promise<string[]> {
    const message: KeyEventMessage = {
      r: announcementId,
      f: this.instanceId,
      ev: events.map((event) => ({ k: event.kind, id: event.keyId, e: event.expiresAt?.getTime() ?? null })),
    };
    const keys = [this.channels.registry, this.channels.events];
    const args = [JSON.stringify(message), String(GENERATION_TTL_MS), String(this.options.hotSetTtlMs)];
    for (const event of events) {
      keys.push(this.entryKey(event.keyId), this.generationKey(event.keyId));
      args.push(event.kind, event.expiresAt ? String(event.expiresAt.getTime()) : '');
    }
    return this.control.keywardAnnounce(keys.length, ...keys, ...args);
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

  /** Outbox relay: publishes events whose announcer could not reach Redis. */
  private async relayUnpublished(): Promise<void> {
    if (this.closed || !this.subscribed) return;
    try {
      const events = await this.options.eventLog.unpublished(RELAY_AFTER_MS, 100);
      if (events.length === 0) return;
      await this.publish(events, randomUUID());
      await this.options.eventLog.markPublished(events.map((event) => event.seq));
      this.options.log.info({ count: events.length }, 'relayed key events another instance could not publish');
    } catch (error) {
      this.options.log.debug({ err: error }, 'relay failed');
    }
  }

  private entryKey(keyId: string): string {
    return `${this.options.keyPrefix}key:${keyId}`;
  }

  private generationKey(keyId: string): string {
    return `${this.options.keyPrefix}gen:${keyId}`;
  }

  /** The hot-path connection, shared with the failed-check limiter. */
  get hotConnection(): Redis {
    return this.hot;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.control.zrem(this.channels.registry, this.instanceId).catch(() => {});
    this.subscriber.removeAllListeners('close');
    for (const redis of [this.hot, this.control, this.subscriber]) redis.disconnect();
  }
}
