import { detached } from './key-format.js';
import type { KeyEventKind } from './fleet-messages.js';
import type { ApiKeyIdentity, CompiledRestriction } from './key-restriction.js';
import type { KeyStatus } from './key-status.js';

/** keyward's own answer to a valid hit (see src/key-check/key-checker.ts). */
export type MemoryHit = Readonly<{
  outcome: 'valid';
  accountId: string;
  keyId: string;
  expiresAt: number | null;
  restriction: CompiledRestriction | null;
  identity: ApiKeyIdentity;
  tier: 'memory';
}>;

/** `Hit`: the answer to a valid hit, built once per entry by whoever checks keys with the cache. */
export interface CachedKey<Hit = MemoryHit> {
  digest: string;
  accountId: string;
  /** Epoch ms of a scheduled expiry, or null. */
  expiresAt: number | null;
  /** Revoked and expired are final, so they need no lease to be believed. */
  status: KeyStatus;
  /** Scopes, networks and metadata, compiled once; null: none (full access, anywhere). */
  restriction: CompiledRestriction | null;
  /** FleetSync epoch the entry was confirmed in; an older one must be re-confirmed. */
  epoch: number;
  /** Date.now() when cached, for the hard TTL. */
  cachedAt: number;
  /** The answer to a valid hit, built on the first one: hits allocate nothing. */
  hit?: Hit;
}

/** Where a cached key stands at `now`: an active key whose scheduled expiry has passed is expired. */
export function statusAt(entry: Pick<CachedKey<unknown>, 'status' | 'expiresAt'>, now: number): KeyStatus {
  if (entry.status !== 'active') return entry.status;
  return entry.expiresAt !== null && entry.expiresAt <= now ? 'expired' : 'active';
}

/** The epoch of an entry that must be confirmed again before it is believed: no fleet has it. */
export const NO_EPOCH = -1;

/** How long a change mark is remembered: far longer than any check can run (bounded by timeouts). */
const CHANGE_MEMORY_MS = 10 * 60_000;

/**
 * The in-process tier: key id → digest and status, bounded in size (oldest
 * inserted goes first) and in age (hard TTL). Never holds a key or secret.
 *
 * A check that read Postgres before a revocation must not put its stale
 * answer back after the revocation event evicted the key: every change bumps
 * a counter, a check takes `changeMark()` before it reads, and `set` refuses
 * an entry whose key changed since that mark.
 */
export class KeyCache<Hit = MemoryHit> {
  private readonly entries = new Map<string, CachedKey<Hit>>();
  private readonly unknownUntil = new Map<string, number>();
  private readonly changes = new Map<string, { mark: number; at: number }>();
  private changeCounter = 0;

  constructor(
    private readonly maxKeys: number,
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry, unless it is older than the TTL (then it must be confirmed again). */
  get(keyId: string, now: number): CachedKey<Hit> | undefined {
    const entry = this.entries.get(keyId);
    if (entry === undefined || now - entry.cachedAt > this.ttlMs) return undefined;
    return entry;
  }

  /**
   * The digest cached for a key id, even past the TTL: an id has exactly one
   * secret, so a matching digest proves the secret (no argon2), though not
   * the key's status. Aged entries stay until evicted by size or replaced.
   */
  knownDigest(keyId: string): string | undefined {
    return this.entries.get(keyId)?.digest;
  }

  changeMark(): number {
    return this.changeCounter;
  }

  /** Stores an entry unless the key changed after `mark` was taken. */
  set(keyId: string, entry: CachedKey<Hit>, mark: number): boolean {
    const change = this.changes.get(keyId);
    if (change !== undefined && change.mark > mark) return false;
    this.entries.delete(keyId); // re-insert at the end: eviction order is insertion order
    this.entries.set(detached(keyId), entry);
    this.unknownUntil.delete(keyId);
    if (this.entries.size > this.maxKeys) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    return true;
  }

  isUnknown(keyId: string, now: number): boolean {
    const until = this.unknownUntil.get(keyId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.unknownUntil.delete(keyId);
    return false;
  }

  markUnknown(keyId: string, now: number, mark: number): void {
    if (this.negativeTtlMs === 0) return;
    const change = this.changes.get(keyId);
    if (change !== undefined && change.mark > mark) return;
    this.unknownUntil.set(detached(keyId), now + this.negativeTtlMs);
    if (this.unknownUntil.size > this.maxKeys) this.unknownUntil.delete(this.unknownUntil.keys().next().value!);
  }

  /**
   * A key changed: a revoked or expired key keeps its digest with the final
   * status (later requests with it cost nothing). A key whose restriction was
   * updated keeps its digest too, but is no longer believed in any epoch: the
   * next check reads its restriction again, and the digest spares it argon2.
   * An expiry scheduled drops it, to be checked again.
   */
  changed(keyId: string, kind: KeyEventKind, now: number): void {
    this.changes.set(keyId, { mark: ++this.changeCounter, at: now });
    this.unknownUntil.delete(keyId);
    const entry = this.entries.get(keyId);
    if (entry === undefined) return;
    if (kind === 'revoked' || kind === 'expired') entry.status = kind;
    else if (kind === 'updated') entry.epoch = NO_EPOCH;
    else this.entries.delete(keyId);
  }

  /** Forgets change marks old enough that no running check can predate them. */
  pruneChanges(now: number): void {
    for (const [keyId, change] of this.changes) {
      if (now - change.at > CHANGE_MEMORY_MS) this.changes.delete(keyId);
    }
  }
}
