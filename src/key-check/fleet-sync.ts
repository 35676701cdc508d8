import type { KeyStatus } from '../../packages/member/src/key-status.js';

export type KeyEventKind = 'revoked' | 'expired' | 'expiry_scheduled';

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
export interface FleetSync {
  /** Bumped whenever events may have been missed; entries of an older epoch must be re-confirmed. */
  readonly epoch: number;
  isTrusted(): boolean;
  readonly hotStore: HotKeyStore | null;
  /**
   * Applies committed events here and on every instance; resolves once no
   * instance of the fleet can still act on the old state.
   */
  announce(events: KeyEvent[]): Promise<void>;
  status(): FleetStatus;
  close(): Promise<void>;
}
