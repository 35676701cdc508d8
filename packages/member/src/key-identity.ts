import { detached } from './key-format.js';
import type { CompiledRestriction } from './key-restriction.js';

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
export function missingScopesOf(identity: ApiKeyIdentity, required: readonly string[]): string[] {
  return identity.scopes === null ? [] : required.filter((scope) => !identity.scopes!.includes(scope));
}

/** Whether the caller's key has every scope of `required` (a full-access key has them all). */
export function hasScopes(identity: ApiKeyIdentity, required: readonly string[]): boolean {
  return missingScopesOf(identity, required).length === 0;
}
