import type { KeyStatus } from '../../packages/member/src/key-status.js';
import type { CacheTrust } from '../../packages/member/src/fleet-lease.js';

import type { KeyEventKind, MemberJoin } from '../../packages/member/src/fleet-messages.js';

export type { KeyEventKind };

/** A committed change to a key that every instance's caches must apply. */
export interface KeyEvent {
  /** Position in the key_events table. */
  seq: number;
  keyId: string;
  kind: KeyEventKind;
  /** The key's expiry after the change, if it has one. */
  expiresAt: Date | null;
}

/** What the Redis hot lookup set keeps per key id (never the key or secret). */
export interface HotEntry {
  /** The full key's digest in its shared form (base64, `sharedDigest` in digest.ts). */
  d: string;
  /** Account id. */
  a: string;
  /** Scheduled expiry, epoch ms. */
  e?: number;
  s: KeyStatus;
  /** The key's restriction as JSON text (restrictionText); absent for full access. */
  r?: string;
}

export interface HotLookup {
  entry: HotEntry | null;
  /** The key's change generation when read; a later fill succeeds only if it is unchanged. */
  generation: string;
}

/** The Redis tier: shared by the fleet, so one instance's argon2 work serves all. */
export interface HotKeyStore {
  /** null when Redis did not answer in time. */
  lookup(keyId: string): Promise<HotLookup | null>;
  /** Stores the entry unless the key changed since `generation` was read. */
  fill(keyId: string, entry: HotEntry, generation: string): Promise<void>;
}

/**
 * What keyward does in Redis on behalf of its fleet's members (services that
 * check keys through keyward): they may only listen and acknowledge there, so
 * their registry entries and echoes are written by keyward, under an instance
 * id bound to their credential.
 */
export interface MemberRelay {
  /** The channels and lease a member instance joins with. */
  channels(instanceId: string): NonNullable<MemberJoin['fleet']>;
  /** Renews a member instance's lease in the registry and publishes `nonce` to its echo channel. */
  renew(instanceId: string, nonce: string): Promise<void>;
  /** Takes a member instance out of the registry (it closed): announcers stop waiting for it. */
  leave(instanceId: string): Promise<void>;
  /** Tells the instances of a revoked member to stop at once. */
  memberRevoked(memberId: string): Promise<void>;
}

export interface FleetStatus {
  mode: 'redis' | 'single-instance';
  /** The in-process cache may be believed without asking anyone. */
  trusted: boolean;
  subscribed: boolean;
  epoch: number;
}

/**
 * Keeps this instance's key cache in step with the fleet: delivers key
 * events to every instance and tells the key checker when its in-process
 * cache may be trusted.
 */
export interface KeyEventAnnouncer {
  /**
   * Applies committed events here and on every instance; resolves once no
   * instance of the fleet can still act on the old state.
   */
  announce(events: KeyEvent[]): Promise<void>;
}

export interface FleetSync {
  /** What this instance's cache may be believed under: its lease on the fleet (always, on a single instance). */
  readonly trust: CacheTrust;
  readonly hotStore: HotKeyStore | null;
  /** Tells this instance and every other one of committed key events. */
  readonly announcer: KeyEventAnnouncer;
  /** null in single-instance mode: there is no fleet for a member to join. */
  readonly members: MemberRelay | null;
  status(): FleetStatus;
  close(): Promise<void>;
}
