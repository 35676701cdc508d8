/**
 * What keyward and the members of its fleet tell each other: over Redis
 * (key events, acknowledgements) and over keyward's member API (joining,
 * cold checks). Instances of different releases meet here during a rolling
 * upgrade, so what is read is validated and what cannot be read is ignored.
 */

import type { KeyRestriction } from './key-restriction.js';
import type { AccountLimits, CounterKind } from './rate-limits.js';

/** `updated`: the key's scopes or allowed networks changed; a cache drops it and checks it again. */
export type KeyEventKind = 'revoked' | 'expired' | 'expiry_scheduled' | 'updated';

/** Published on the key-events channel. */
export interface KeyEventMessage {
  /** Announcement id, echoed in acks. */
  r: string;
  /** Instance to ack to. */
  f: string;
  ev: Array<{ k: KeyEventKind; id: string; e: number | null }>;
}

/** Published on the announcer's acks channel. */
export interface AckMessage {
  /** Announcement id. */
  r: string;
  /** Acknowledging instance. */
  i: string;
}

const EVENT_KINDS: ReadonlySet<unknown> = new Set(['revoked', 'expired', 'expiry_scheduled', 'updated']);

/** A key-events message, or null when it is not one this version can apply. */
export function keyEventMessageOf(raw: string): KeyEventMessage | null {
  try {
    const message = JSON.parse(raw) as Partial<KeyEventMessage>;
    if (typeof message.r !== 'string' || typeof message.f !== 'string' || !Array.isArray(message.ev)) return null;
    const valid = message.ev.every(
      (event: Partial<KeyEventMessage['ev'][number]> | null) =>
        typeof event === 'object' &&
        event !== null &&
        typeof event.id === 'string' &&
        EVENT_KINDS.has(event.k) &&
        (event.e === null || typeof event.e === 'number'),
    );
    return valid ? (message as KeyEventMessage) : null;
  } catch {
    return null;
  }
}

/** keyward's answer to a member joining the fleet (`POST /v1/fleet/join`). */
export interface MemberJoin {
  memberId: string;
  memberName: string;
  /** This process's id in the fleet's registry (bound to the member credential by keyward). */
  instanceId: string;
  /** The deployment's KEYWARD_KEY_PREFIX. */
  keyPrefix: string;
  /** null: keyward runs without Redis (single-instance mode), so it has no fleet to join. */
  fleet: {
    /** Channel of key events. */
    events: string;
    /** This instance's heartbeat echoes. */
    echo: string;
    /** Acknowledgements go to `<acksPrefix><announcing instance>`. */
    acksPrefix: string;
    /** Ids of revoked member credentials. */
    memberRevocations: string;
    leaseMs: number;
  } | null;
  cache: { maxKeys: number; ttlMs: number };
  /** Longest a member waits for rate-limit budget before it admits its own share (absent: keyward predates limits). */
  rateLimitTimeoutMs?: number;
  /** null when keyward counts no usage (KEYWARD_USAGE_TRACKING off). */
  usage: { flushIntervalMs: number; maxKeysPerMinute: number; maxCallersPerKey: number } | null;
}

/** A member's request for rate-limit budget (`POST /v1/fleet/reserve`): how much of each of a key's counts. */
export interface ReserveBody {
  keyId: string;
  wants: Array<{ kind: CounterKind; want: number }>;
}

/**
 * keyward's grants, in the order asked. A count keyward does not hold the key to (its limit was just removed)
 * is granted in full with `used` 0.
 */
export interface ReserveAnswer {
  grants: Array<{ granted: number; used: number }>;
  fleetSize: number;
}

/** keyward's answer to a member's cold check (`POST /v1/fleet/check`). */
export type MemberCheckAnswer =
  | {
      outcome: 'valid' | 'revoked' | 'expired';
      accountId: string;
      keyId: string;
      expiresAt: number | null;
      /** Absent: the key has none (full access, anywhere, no metadata, no limit of its own). */
      restriction?: KeyRestriction;
      /** Its account's rate limit and monthly quota; absent: none. */
      accountLimits?: AccountLimits;
    }
  | { outcome: 'invalid' }
  | { outcome: 'limited'; retryAfterSeconds: number };

/** A usage batch as a member sends it (`POST /v1/fleet/usage`): the recorder's counts, as JSON. */
export interface UsageBatchBody {
  batchId: string;
  minutes: Array<{
    minute: number;
    keys: Array<{ keyId: string; accepted: TallyBody; rejected: TallyBody }>;
  }>;
}

export interface TallyBody {
  requests: number;
  last: number;
  callers: Array<{ address: string; agent: string; requests: number; firstSeen: number; lastSeen: number }>;
}
