import { hotEntryOf, type FleetKeys, type ScriptedRedis } from './fleet-protocol.js';
import type { HotEntry, HotKeyStore, HotLookup } from './fleet-sync.js';

/**
 * The Redis tier of key checking: one entry per key id, shared by the fleet,
 * so one instance's argon2 work serves all. Every failure is a miss (null or
 * no fill): the caller goes on to Postgres, never waits on Redis beyond the
 * connection's command timeout.
 */
export class RedisHotSet implements HotKeyStore {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly keys: FleetKeys,
    private readonly ttlMs: number,
  ) {}

  async lookup(keyId: string): Promise<HotLookup | null> {
    try {
      const [raw, generation] = await this.redis.mget(this.keys.entry(keyId), this.keys.generation(keyId));
      return { entry: raw ? hotEntryOf(raw) : null, generation: generation ?? '' };
    } catch {
      return null;
    }
  }

  async fill(keyId: string, entry: HotEntry, generation: string): Promise<void> {
    try {
      await this.redis.keywardFill(
        this.keys.entry(keyId),
        this.keys.generation(keyId),
        generation,
        JSON.stringify(entry),
        this.ttlMs,
      );
    } catch {
      // the next cold check fills it
    }
  }
}
