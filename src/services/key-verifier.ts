import { eq } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { parseKey } from '../keys/key-format.js';
import type { SecretHasher } from '../keys/secret-hashing.js';

export type KeyCheck =
  | { outcome: 'valid'; accountId: string; keyId: string }
  | { outcome: 'invalid' }
  | { outcome: 'revoked' }
  | { outcome: 'expired' };

/** Decides whether an `x-api-key` value is a valid, active key. */
export interface KeyVerifier {
  verify(headerValue: unknown): Promise<KeyCheck>;
}

/** The source of truth: Postgres and argon2id. Every call costs one argon2 verification. */
export class DatabaseKeyVerifier implements KeyVerifier {
  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
    private readonly keyPrefix: string,
  ) {}

  async verify(headerValue: unknown): Promise<KeyCheck> {
    const parsed = parseKey(headerValue, this.keyPrefix);
    if (!parsed) return { outcome: 'invalid' };
    const [row] = await this.db
      .select({
        accountId: apiKeys.accountId,
        secretHash: apiKeys.secretHash,
        expiresAt: apiKeys.expiresAt,
        revokedAt: apiKeys.revokedAt,
      })
      .from(apiKeys)
      .where(eq(apiKeys.id, parsed.keyId));
    if (!row || !(await this.hasher.verify(row.secretHash, parsed.fullKey))) return { outcome: 'invalid' };
    // Only a holder of the full key learns that it was revoked or expired.
    if (row.revokedAt) return { outcome: 'revoked' };
    if (row.expiresAt && row.expiresAt <= new Date()) return { outcome: 'expired' };
    return { outcome: 'valid', accountId: row.accountId, keyId: parsed.keyId };
  }
}
