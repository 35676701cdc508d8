/** The in-memory shape of usage counts, shared by the recorder (src/usage/usage-recorder.ts) and its writes. */
import { cutText } from './cut-text.js';

/** Longest user agent kept per caller (the database column's bound too). */
export const MAX_USER_AGENT_LENGTH = 200;

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export interface CallerCount {
  /** The address and user agent it is counted under (its keys in CallerCounts). */
  address: string;
  agent: string;
  requests: number;
  firstSeen: number;
  lastSeen: number;
}

/** client address → user agent → count */
export type CallerCounts = Map<string, Map<string, CallerCount>>;

/** One kind of request with a key (accepted, or refused because the key is revoked or expired). */
export interface Tally {
  requests: number;
  /** Latest request, or 0. */
  last: number;
  callers: CallerCounts;
  /**
   * The caller of the latest request: a client sending a key again is counted without looking its address
   * and user agent up (a user agent is a fresh string per request, so a lookup hashes it again).
   */
  lastCaller: CallerCount | undefined;
}

export interface KeyCounts {
  accountId: string;
  accepted: Tally;
  /** Requests refused because the key is revoked or expired (sent with its right secret). */
  rejected: Tally;
  /** Distinct callers in both tallies. */
  callerCount: number;
}

export interface MinuteCounts {
  minute: number;
  keys: Map<string, KeyCounts>;
}

export function emptyTally(): Tally {
  return { requests: 0, last: 0, callers: new Map(), lastCaller: undefined };
}

/** The user agent a request is counted under: client-chosen text, kept to what identifies a client. */
export function agentOf(userAgent: string | undefined): string {
  if (userAgent === undefined) return '';
  return cutText(userAgent, MAX_USER_AGENT_LENGTH);
}
