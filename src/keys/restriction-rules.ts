/**
 * The rules of a key's restriction (scopes, allowed networks, metadata) beyond what the request schemas
 * check: the deployment's scope catalogue, the networks' syntax, the metadata's size and depth. The
 * restriction itself is enforced where keys are checked (packages/member/src/key-restriction.ts).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/env.js';
import { InvalidRequest, UnknownScope } from '../http/errors.js';
import { parseNetwork, type KeyRestriction } from '../../packages/member/src/key-restriction.js';
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH, MAX_SCOPES, SCOPE_PATTERN } from './key-schemas.js';

/** What a call may set of a key's restriction; an absent field is left as it is (a new key: none). */
export type RestrictionChange = Partial<KeyRestriction>;

/** The deployment's scopes and what each allows, in the order the catalogue lists them. */
export type ScopeCatalogue = ReadonlyMap<string, string>;

/**
 * Reads KEYWARD_SCOPES_FILE: a JSON object of scope → description (`{"orders:read": "Read orders"}`).
 * A file that cannot be used is refused at start, with its cause.
 */
export function loadScopeCatalogue(path: string | undefined): ScopeCatalogue | null {
  if (path === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`KEYWARD_SCOPES_FILE: cannot read ${path} as JSON (${(error as Error).message}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('KEYWARD_SCOPES_FILE: expected a JSON object of scope → description.');
  }
  const entries = Object.entries(parsed);
  const pattern = new RegExp(SCOPE_PATTERN);
  for (const [scope, description] of entries) {
    if (!pattern.test(scope)) throw new ConfigError(`KEYWARD_SCOPES_FILE: "${scope}" is not a valid scope name.`);
    if (typeof description !== 'string') {
      throw new ConfigError(`KEYWARD_SCOPES_FILE: the description of "${scope}" must be a string.`);
    }
  }
  if (entries.length === 0 || entries.length > 500) {
    throw new ConfigError('KEYWARD_SCOPES_FILE: list between 1 and 500 scopes.');
  }
  return new Map(entries as Array<[string, string]>);
}

/** Checks a restriction change against the rules; answers 400 with what is wrong. */
export function checkRestriction(change: RestrictionChange, catalogue: ScopeCatalogue | null): RestrictionChange {
  if (change.scopes && catalogue !== null) {
    const unknown = change.scopes.filter((scope) => !catalogue.has(scope));
    if (unknown.length > 0) throw new UnknownScope(unknown.join(', '));
  }
  if (change.scopes && change.scopes.length > MAX_SCOPES) throw new InvalidRequest(`At most ${MAX_SCOPES} scopes.`);
  for (const network of change.allowedNetworks ?? []) {
    if (parseNetwork(network) === null) {
      throw new InvalidRequest(`allowedNetworks: "${network}" is not an IPv4 or IPv6 address or CIDR range.`);
    }
  }
  if (change.metadata) {
    if (Buffer.byteLength(JSON.stringify(change.metadata)) > MAX_METADATA_BYTES) {
      throw new InvalidRequest(`metadata: at most ${MAX_METADATA_BYTES} bytes of JSON.`);
    }
    if (depthOf(change.metadata) > MAX_METADATA_DEPTH) {
      throw new InvalidRequest(`metadata: nested at most ${MAX_METADATA_DEPTH} deep.`);
    }
  }
  return change;
}

function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

/** A key row's restriction as stored. */
export function restrictionOfRow(row: {
  scopes: string[] | null;
  allowedNetworks: string[] | null;
  metadata: Record<string, unknown> | null;
  rateLimitRequests: number | null;
  rateLimitWindowSeconds: number | null;
}): KeyRestriction {
  return {
    scopes: row.scopes,
    allowedNetworks: row.allowedNetworks,
    metadata: row.metadata,
    rateLimit:
      row.rateLimitRequests === null || row.rateLimitWindowSeconds === null
        ? null
        : { requests: row.rateLimitRequests, windowSeconds: row.rateLimitWindowSeconds },
  };
}

/** The restriction's columns, as a row stores them. */
export function restrictionColumns(restriction: KeyRestriction) {
  return {
    scopes: restriction.scopes === null ? null : [...restriction.scopes],
    allowedNetworks: restriction.allowedNetworks === null ? null : [...restriction.allowedNetworks],
    metadata: restriction.metadata,
    rateLimitRequests: restriction.rateLimit?.requests ?? null,
    rateLimitWindowSeconds: restriction.rateLimit?.windowSeconds ?? null,
  };
}

const RESTRICTION_FIELDS = ['scopes', 'allowedNetworks', 'metadata', 'rateLimit'] as const;

/**
 * A restriction field as the audit log and webhooks show it: space-separated lists, a rate limit as
 * `100/60s`, metadata as JSON; null: none.
 */
function restrictionText(restriction: KeyRestriction, field: (typeof RESTRICTION_FIELDS)[number]): string | null {
  if (field === 'rateLimit') {
    const limit = restriction.rateLimit;
    return limit === null ? null : `${limit.requests}/${limit.windowSeconds}s`;
  }
  const value = restriction[field];
  if (value === null) return null;
  return Array.isArray(value) ? value.join(' ') : JSON.stringify(value);
}

/**
 * The audit details of a restriction: each field set (a new key), or each field that changed with its
 * previous value (`scopes` and `previousScopes`, …).
 */
export function restrictionDetails(after: KeyRestriction, before?: KeyRestriction): Record<string, string | null> {
  const details: Record<string, string | null> = {};
  for (const field of RESTRICTION_FIELDS) {
    const now = restrictionText(after, field);
    if (before === undefined) {
      if (now !== null) details[field] = now;
      continue;
    }
    const then = restrictionText(before, field);
    if (now === then) continue;
    details[field] = now;
    details[`previous${field[0]!.toUpperCase()}${field.slice(1)}`] = then;
  }
  return details;
}

/** The restriction fields a call gave (an absent one is left as it is). */
export function definedFields(change: RestrictionChange): Partial<KeyRestriction> {
  return Object.fromEntries(
    RESTRICTION_FIELDS.flatMap((field) => (change[field] === undefined ? [] : [[field, change[field]]])),
  );
}
