/**
 * Everything the fleet puts on the wire in Redis: key names, channels,
 * messages, hot-set entries and the Lua scripts that change them. Instances of
 * different releases meet here during a rolling upgrade, so what is read is
 * validated and what cannot be read is ignored (then Postgres decides).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { HotEntry } from './fleet-sync.js';
export type { AckMessage, KeyEventMessage } from '../../packages/member/src/fleet-messages.js';

/** Redis key and channel names of one deployment (its `REDIS_KEY_PREFIX`) and one instance. */
export class FleetKeys {
  /** Sorted set: instance id → lease end (Redis clock, epoch ms). */
  readonly registry: string;
  /** Key events, for every instance. */
  readonly events: string;
  /** This instance's heartbeat echoes. */
  readonly echo: string;
  /** Acknowledgements of this instance's announcements. */
  readonly acks: string;

  constructor(
    private readonly prefix: string,
    instanceId: string,
  ) {
    this.registry = `${prefix}instances`;
    this.events = `${prefix}key-events`;
    this.echo = this.echoOf(instanceId);
    this.acks = this.acksOf(instanceId);
  }

  acksOf(instanceId: string): string {
    return `${this.acksPrefix}${instanceId}`;
  }

  /** Every instance's acks channel begins with this. */
  get acksPrefix(): string {
    return `${this.prefix}acks:`;
  }

  echoOf(instanceId: string): string {
    return `${this.prefix}echo:${instanceId}`;
  }

  /** Ids of revoked member credentials, for the members that hold them. */
  get memberRevocations(): string {
    return `${this.prefix}member-revocations`;
  }

  /** A key's hot-set entry. */
  entry(keyId: string): string {
    return `${this.prefix}key:${keyId}`;
  }

  /** A rate limit's or quota's count in one window (packages/member/src/rate-limits.ts names them). */
  budget(name: string): string {
    return `${this.prefix}rl:${name}`;
  }

  /** A key's change generation: bumped by every event, so a stale cold check cannot fill its entry. */
  generation(keyId: string): string {
    return `${this.prefix}gen:${keyId}`;
  }
}

const HOT_STATUSES: ReadonlySet<unknown> = new Set(['active', 'revoked', 'expired']);

/** A hot-set entry as stored, or null when it is not one this version can trust (then Postgres decides). */
export function hotEntryOf(raw: string): HotEntry | null {
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
          if kind == 'revoked' or kind == 'expired' then
            entry.s = kind
            redis.call('SET', entryKey, cjson.encode(entry), 'PX', ARGV[3])
          elseif kind == 'expiry_scheduled' then
            entry.e = tonumber(expiresAt)
            redis.call('SET', entryKey, cjson.encode(entry), 'PX', ARGV[3])
          else
            redis.call('DEL', entryKey)
          end
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
  /**
   * Reserves budget from rate-limit counts: for each, up to `want` more unless that passes `limit` (at most
   * half of what is left, so instances share the end of a window), all in one round trip. A count missing
   * with floor -1 (a quota after Redis lost it) is answered -1 so the caller can rebuild it from usage.
   * KEYS: registry, then one count per request; ARGV: limit, want, window end (epoch ms), floor per request.
   * Returns the live instances of the fleet, then granted and count after it per request.
   */
  keywardReserve: {
    lua: `
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local out = { redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') }
      for i = 2, #KEYS do
        local at = (i - 2) * 4
        local limit, want = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
        local resetAt, floor = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
        local used = tonumber(redis.call('GET', KEYS[i]) or floor)
        if used < 0 then
          out[#out + 1] = 0
          out[#out + 1] = -1
        else
          local left = limit - used
          local grant = 0
          if left > 0 then grant = math.min(want, math.max(1, math.ceil(left / 2))) end
          -- Kept a minute past the window's end: a clock a little behind still finds its count.
          redis.call('SET', KEYS[i], used + grant, 'PXAT', resetAt + 60000)
          out[#out + 1] = grant
          out[#out + 1] = used + grant
        end
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

/** A Redis connection with the fleet's scripts defined. */
export type ScriptedRedis = Redis & {
  /** Returns the live instances and their lease left (ms), flattened: id, ms, id, ms… */
  keywardAnnounce(numberOfKeys: number, ...keysThenArgs: string[]): Promise<string[]>;
  keywardFill(entry: string, generation: string, expected: string, value: string, ttl: number): Promise<number>;
  /** Returns the live instances, then granted and count after it per request (see SCRIPTS.keywardReserve). */
  keywardReserve(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number[]>;
  keywardHeartbeat(registry: string, echo: string, instanceId: string, leaseMs: number, nonce: string): Promise<number>;
};

export function connectRedis(url: string, options: RedisOptions): ScriptedRedis {
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
