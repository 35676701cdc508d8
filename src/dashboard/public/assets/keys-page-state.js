// The API keys page's state and the small facts about keys every part of the page uses.

import { cutText } from './cut-text.js';
import { recentRequests } from './sparkline.js';

/** How often the list refreshes, and how often while a rotation is being watched. */
export const REFRESH_MS = 10_000;
export const ROTATION_REFRESH_MS = 3_000;
/**
 * One window for "recently used" everywhere: the rotation's verdicts and counts, the warnings before a
 * revocation, and when revoking asks for a second confirmation.
 */
export const RECENT_MINUTES = 15;
const RECENT_MS = RECENT_MINUTES * 60_000;
export const IN_RECENT_WINDOW = `in the last ${RECENT_MINUTES} minutes`;
/** Ended keys are watched for refused calls this long (the usage API's callers cover the last hour). */
const REJECTED_WATCH_MS = 60 * 60 * 1000;
export const GRACE_PERIODS = [
  [3600, '1 hour'],
  [6 * 3600, '6 hours'],
  [24 * 3600, '24 hours'],
  [7 * 24 * 3600, '7 days'],
  [30 * 24 * 3600, '30 days'],
];

export const $ = (selector, root = document) => root.querySelector(selector);

export const state = {
  keys: [],
  maxActiveKeys: 2,
  /** How often usage counts are written (GET /v1/keys usageFlushIntervalMs): the lag of a key's counts. */
  usageFlushIntervalMs: 10_000,
  /** keyId → GET /v1/keys/{id}/usage */
  usage: new Map(),
  loaded: false,
  /** The rotation dialog while open. */
  rotation: null,
  /** GET /v1/limits, as of the last refresh that could read it; null until then. */
  limits: null,
};

/** The account's own rate limit ({ requests, windowSeconds }), or null when it has none or it is not known yet. */
export const accountRateLimit = () => state.limits?.account.rateLimit ?? null;

export const isActive = (key) => key.status === 'active';
export const quoted = (name) => `“${name}”`;
/** "…a1b2": the end of the hint, enough to tell two keys of the same name apart. */
const shortHint = (key) => `…${key.hint.slice(-4)}`;
const hasTwin = (key) => state.keys.some((other) => other.id !== key.id && other.name === key.name);
/** “production”, or “production” (…a1b2) when another key has the same name: for messages and dialogs. */
export const keyTitle = (key) => (hasTwin(key) ? `${quoted(key.name)} (${shortHint(key)})` : quoted(key.name));
/** production, or production …a1b2: for accessible names of controls. */
export const keyLabelText = (key) => (hasTwin(key) ? `${key.name} ${shortHint(key)}` : key.name);
export const recentlyUsed = (lastUsedAt) => lastUsedAt !== null && Date.now() - Date.parse(lastUsedAt) < RECENT_MS;

/**
 * The server's default name for a rotation's new key (src/keys/key-names.ts rotatedKeyName), to show it: a
 * counter when an active key already has the name.
 */
export function rotatedKeyName(oldName) {
  const day = new Date().toISOString().slice(0, 10);
  const base = oldName.replace(/(?:\s*\(rotated(?: \d{4}-\d{2}-\d{2}(?:, \d+)?)?\))+$/, '').trim() || 'API key';
  const activeNames = new Set(state.keys.filter(isActive).map((key) => key.name));
  for (let count = 1; ; count++) {
    const suffix = count === 1 ? ` (rotated ${day})` : ` (rotated ${day}, ${count})`;
    const name = cutText(base, 100 - suffix.length).trimEnd() + suffix;
    if (!activeNames.has(name)) return name;
  }
}

export function usageUrl(keyId) {
  return `/v1/keys/${encodeURIComponent(keyId)}/usage?minutes=60&hours=1`;
}

/** A revoked or expired key that something called in the last hour (and was refused). */
export const recentlyRejected = (key) =>
  key.lastRejectedAt !== null && Date.now() - Date.parse(key.lastRejectedAt) < REJECTED_WATCH_MS;

/** Refused calls of a revoked or expired key in the last hour, or 0. */
export function rejectedLastHour(key) {
  const rejected = state.usage.get(key.id)?.rejected;
  return rejected ? recentRequests(rejected.minutes, 60) : 0;
}

/** Clients seen with the key within the recent window, latest first. */
export const recentCallers = (usage) =>
  (usage?.callers ?? []).filter((caller) => Date.now() - Date.parse(caller.lastSeenAt) < RECENT_MS);

/** Whether the key had requests within the recent window (counted, or by its last use). */
export function usedInWindow(key, usage) {
  const recent = usage ? recentRequests(usage.minutes, RECENT_MINUTES) : 0;
  return recent > 0 || recentlyUsed(usage?.lastUsedAt ?? key.lastUsedAt);
}
