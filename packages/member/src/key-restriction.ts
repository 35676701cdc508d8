import { isIP } from 'node:net';
import { detached } from './key-format.js';
import { hasLimits, type AccountLimits, type KeyLimits, type RateLimit } from './rate-limits.js';

/**
 * What a key may do and from where, as keyward stores it: `null` scopes is full access, `null` networks is
 * anywhere. Metadata is the owner's, returned to whoever checks the key and never interpreted.
 */
export interface KeyRestriction {
  scopes: readonly string[] | null;
  allowedNetworks: readonly string[] | null;
  metadata: Readonly<Record<string, unknown>> | null;
  /** The key's own rate limit; null: only its account's. */
  rateLimit: RateLimit | null;
}

export const FULL_ACCESS: KeyRestriction = Object.freeze({
  scopes: null,
  allowedNetworks: null,
  metadata: null,
  rateLimit: null,
});

/** A restriction made ready for the hot path: the address test is built once per key. */
export interface CompiledRestriction extends KeyRestriction {
  /** Whether a client address may use the key; null: from anywhere. */
  readonly allowsAddress: ((address: string) => boolean) | null;
  /** The rate limits and quota its requests count against (its own and its account's); null: none. */
  readonly limits: KeyLimits | null;
  /** Its account's, as the key was read with (kept to write the restriction back as text). */
  readonly accountLimits: AccountLimits | null;
}

/** Whether a key may be used from `address`: anywhere without a restriction or allowed networks. */
export function usableFrom(restriction: CompiledRestriction | null, address: string): boolean {
  return restriction === null || restriction.allowsAddress === null || restriction.allowsAddress(address);
}

/**
 * The compiled restriction, or null for a key with none (full access, anywhere, no metadata, no limits):
 * nothing to check.
 */
export function restrictionOf(
  restriction: KeyRestriction,
  accountLimits: AccountLimits | null = null,
): CompiledRestriction | null {
  const { scopes, allowedNetworks, metadata, rateLimit } = restriction;
  const limits = {
    key: rateLimit ?? null,
    account: accountLimits?.account ?? null,
    monthlyQuota: accountLimits?.monthlyQuota ?? null,
  };
  return scopes === null && allowedNetworks === null && metadata === null && !hasLimits(limits)
    ? null
    : compileRestriction(restriction, accountLimits);
}

/** The restriction as stored in the Redis hot set: JSON text (Redis' cjson would turn an empty list into `{}`). */
export function restrictionText(restriction: CompiledRestriction | null): string | undefined {
  if (restriction === null) return undefined;
  const { scopes, allowedNetworks, metadata, rateLimit, accountLimits } = restriction;
  return JSON.stringify({ scopes, allowedNetworks, metadata, rateLimit, accountLimits });
}

/** A limit read from text or another process: whole positive numbers, or null; undefined when unreadable. */
export function readRateLimit(value: unknown): { requests: number; windowSeconds: number } | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'object') return undefined;
  const { requests, windowSeconds } = value as Record<string, unknown>;
  return Number.isSafeInteger(requests) &&
    Number.isSafeInteger(windowSeconds) &&
    (requests as number) > 0 &&
    (windowSeconds as number) > 0
    ? { requests: requests as number, windowSeconds: windowSeconds as number }
    : undefined;
}

/** An account's limits read from text or another process; null when absent, undefined when unreadable. */
export function readAccountLimits(value: unknown): AccountLimits | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') return undefined;
  const fields = value as Record<string, unknown>;
  const account = readRateLimit(fields.account ?? null);
  const quota = fields.monthlyQuota ?? null;
  if (account === undefined) return undefined;
  if (quota !== null && !(Number.isSafeInteger(quota) && (quota as number) > 0)) return undefined;
  return { account, monthlyQuota: quota as number | null };
}

/** The restriction read back from its JSON text; full access when absent, and null when unreadable. */
export function restrictionFromText(text: unknown): CompiledRestriction | null | undefined {
  if (text === undefined) return null;
  try {
    const value = JSON.parse(String(text)) as Partial<KeyRestriction>;
    const list = (field: unknown) =>
      field === null || (Array.isArray(field) && field.every((item) => typeof item === 'string'));
    if (!list(value.scopes) || !list(value.allowedNetworks)) return undefined;
    if (value.metadata !== null && (typeof value.metadata !== 'object' || Array.isArray(value.metadata)))
      return undefined;
    const rateLimit = readRateLimit(value.rateLimit ?? null);
    const accountLimits = readAccountLimits((value as { accountLimits?: unknown }).accountLimits);
    if (rateLimit === undefined || accountLimits === undefined) return undefined;
    return restrictionOf({ ...(value as KeyRestriction), rateLimit }, accountLimits);
  } catch {
    return undefined;
  }
}

export function compileRestriction(
  restriction: KeyRestriction,
  accountLimits: AccountLimits | null = null,
): CompiledRestriction {
  const { scopes, allowedNetworks, metadata } = restriction;
  const rateLimit = restriction.rateLimit ?? null;
  const limits = {
    key: rateLimit,
    account: accountLimits?.account ?? null,
    monthlyQuota: accountLimits?.monthlyQuota ?? null,
  };
  return Object.freeze({
    scopes,
    allowedNetworks,
    metadata,
    rateLimit,
    allowsAddress: allowedNetworks === null ? null : addressMatcher(allowedNetworks),
    limits: hasLimits(limits) ? Object.freeze(limits) : null,
    accountLimits,
  });
}

/** The caller a valid key identifies, with what the key may do. */
export interface ApiKeyIdentity {
  accountId: string;
  keyId: string;
  /** The scopes the key is limited to; null: full access. Test a route's needs with {@link hasScopes}. */
  scopes: readonly string[] | null;
  /** The key owner's JSON object about the key (keyward never interprets it); null: none. */
  metadata: Readonly<Record<string, unknown>> | null;
}

/** The identity of a valid key, made once per cached key. */
export function identityOf(accountId: string, keyId: string, restriction: CompiledRestriction | null): ApiKeyIdentity {
  return Object.freeze({
    accountId,
    keyId: detached(keyId),
    scopes: restriction?.scopes ?? null,
    metadata: restriction?.metadata ?? null,
  });
}

/** The scopes of `required` the caller's key lacks: none for a full-access key. */
export function missingScopesOf(identity: ApiKeyIdentity, required: readonly string[]): readonly string[] {
  const granted = identity.scopes;
  if (granted === null) return NONE_MISSING;
  // Every request of a route passes here: nothing is allocated unless a scope is missing.
  for (const scope of required) {
    if (!granted.includes(scope)) return required.filter((needed) => !granted.includes(needed));
  }
  return NONE_MISSING;
}

const NONE_MISSING: readonly string[] = Object.freeze([]);

/** Whether the caller's key has every scope of `required` (a full-access key has them all). */
export function hasScopes(identity: ApiKeyIdentity, required: readonly string[]): boolean {
  return missingScopesOf(identity, required).length === 0;
}

/** An address as 16 bytes: IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d, so both forms match the same ranges. */
export function addressBytes(address: string): Uint8Array | null {
  const zone = address.indexOf('%');
  const text = zone === -1 ? address : address.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return v4Mapped(text);
  if (family !== 6) return null;
  const bytes = new Uint8Array(16);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const words = (parts: string[]) =>
    parts.flatMap((part) => {
      if (!part.includes('.')) return [parseInt(part, 16)];
      const v4 = v4Mapped(part);
      return [(v4[12]! << 8) | v4[13]!, (v4[14]! << 8) | v4[15]!];
    });
  const front = words(groups(head));
  const back = tail === undefined ? [] : words(groups(tail));
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((word, index) => {
    bytes[index * 2] = word >> 8;
    bytes[index * 2 + 1] = word & 0xff;
  });
  return bytes;
}

function v4Mapped(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  text.split('.').forEach((octet, index) => (bytes[12 + index] = Number(octet)));
  return bytes;
}

/** An address or CIDR range as its first 16 bytes and prefix length (in IPv6 bits); null when it is neither. */
export function parseNetwork(network: string): { bytes: Uint8Array; prefix: number } | null {
  const slash = network.indexOf('/');
  const address = slash === -1 ? network : network.slice(0, slash);
  if (address.includes('%')) return null;
  const bytes = addressBytes(address);
  if (bytes === null) return null;
  const v4 = isIP(address) === 4;
  const width = v4 ? 32 : 128;
  const bits = slash === -1 ? String(width) : network.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > width) return null;
  return { bytes, prefix: Number(bits) + (v4 ? 96 : 0) };
}

/** Client addresses a matcher remembers its answer for: a key's callers are few, so a hit allocates nothing. */
const REMEMBERED_ADDRESSES = 1024;

/** A test of client addresses against networks (addresses and CIDR ranges, already validated). */
export function addressMatcher(networks: readonly string[]): (address: string) => boolean {
  const ranges = networks.flatMap((network) => parseNetwork(network) ?? []);
  const answers = new Map<string, boolean>();
  return (address) => {
    const known = answers.get(address);
    if (known !== undefined) return known;
    const bytes = addressBytes(address);
    const allowed = bytes !== null && ranges.some((range) => inRange(bytes, range.bytes, range.prefix));
    if (answers.size >= REMEMBERED_ADDRESSES) answers.clear();
    answers.set(address, allowed);
    return allowed;
  };
}

function inRange(address: Uint8Array, network: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let index = 0; index < whole; index++) if (address[index] !== network[index]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === (network[whole]! & mask);
}
