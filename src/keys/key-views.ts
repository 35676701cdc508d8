import { and, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { apiKeys, keyUsage, users, type EndReason } from '../db/schema.js';
import { KeyNotFound } from '../http/errors.js';
import type { SecretHasher } from './secret-hashing.js';
import { keyStatus } from './key-state.js';
import type { KeyStatus } from '../../packages/member/src/key-status.js';
import { restrictionOfRow } from './restriction-rules.js';
import type { RateLimit } from '../../packages/member/src/rate-limits.js';

/** Why and when a key ended, and where it was found if it leaked. */
export interface KeyRevocation {
  /** `revoked` on request, `leaked` revoked by a secret scanning report, `expired` by its scheduled expiry. */
  reason: EndReason;
  at: Date;
  /** The first report of the key found in public, if any (also for a key that had ended before). */
  leak: { url: string; source: string; reportedAt: Date } | null;
}

export interface KeyView {
  id: string;
  name: string;
  hint: string;
  status: KeyStatus;
  createdAt: Date;
  createdBy: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** As of the last usage flush of any instance. */
  lastUsedAt: Date | null;
  /** Requests in the last 24 hours, as of the last usage flushes. */
  requestsLast24h: number;
  /** Latest request refused because the key was revoked or expired, as of the last usage flush. */
  lastRejectedAt: Date | null;
  /** Requests refused (revoked or expired) in the last 24 hours, as of the last usage flushes. */
  rejectedLast24h: number;
  /** The key this one was generated to replace by a rotation; null for a key generated on its own. */
  replacesKeyId: string | null;
  /** null while the key is active. */
  revocation: KeyRevocation | null;
  scopes: readonly string[] | null;
  allowedNetworks: readonly string[] | null;
  metadata: Readonly<Record<string, unknown>> | null;
  rateLimit: RateLimit | null;
}

const keyColumns = {
  id: apiKeys.id,
  name: apiKeys.name,
  hint: apiKeys.hint,
  createdAt: apiKeys.createdAt,
  createdBy: users.email,
  expiresAt: apiKeys.expiresAt,
  revokedAt: apiKeys.revokedAt,
  lastUsedAt: apiKeys.lastUsedAt,
  lastRejectedAt: apiKeys.lastRejectedAt,
  replacesKeyId: apiKeys.replacesKeyId,
  revocationReason: apiKeys.revocationReason,
  leakedAt: apiKeys.leakedAt,
  leakUrl: apiKeys.leakUrl,
  leakSource: apiKeys.leakSource,
  scopes: apiKeys.scopes,
  allowedNetworks: apiKeys.allowedNetworks,
  metadata: apiKeys.metadata,
  rateLimitRequests: apiKeys.rateLimitRequests,
  rateLimitWindowSeconds: apiKeys.rateLimitWindowSeconds,
};

type KeyRow = Awaited<ReturnType<KeyViews['selectKeys']>>[number];

/** A key's calls in the last 24 hours: served and refused. */
interface CallCounts {
  requests: number;
  rejected: number;
}

const NO_CALLS: CallCounts = { requests: 0, rejected: 0 };

function toView(row: KeyRow, calls: CallCounts, now = Date.now()): KeyView {
  const status = keyStatus(row, now);
  return {
    id: row.id,
    name: row.name,
    hint: row.hint,
    status,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
    requestsLast24h: calls.requests,
    lastRejectedAt: row.lastRejectedAt,
    rejectedLast24h: calls.rejected,
    replacesKeyId: row.replacesKeyId,
    revocation: revocationOf(row, status),
    ...restrictionOfRow(row),
  };
}

function revocationOf(row: KeyRow, status: KeyStatus): KeyRevocation | null {
  if (status === 'active') return null;
  const leak = row.leakedAt ? { url: row.leakUrl ?? '', source: row.leakSource ?? '', reportedAt: row.leakedAt } : null;
  if (row.revokedAt) return { reason: row.revocationReason ?? 'revoked', at: row.revokedAt, leak };
  return { reason: 'expired', at: row.expiresAt!, leak };
}

/** Keys as the account sees them: the row, who created it, and its calls of the last 24 hours. Read only. */
export class KeyViews {
  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
  ) {}

  /**
   * The account a key belongs to, for operators. With the full key (a leaked
   * key pasted by an operator) the secret must match too.
   */
  async accountOfKey(keyId: string, fullKey?: string): Promise<string> {
    const [row] = await this.db
      .select({ accountId: apiKeys.accountId, secretHash: apiKeys.secretHash })
      .from(apiKeys)
      .where(eq(apiKeys.id, keyId));
    if (!row || (fullKey !== undefined && !(await this.hasher.verify(row.secretHash, fullKey)))) {
      throw new KeyNotFound();
    }
    return row.accountId;
  }

  /** Every key of the account, newest first, revoked ones included. */
  async listKeys(accountId: string): Promise<KeyView[]> {
    const now = Date.now();
    const [rows, calls] = await Promise.all([
      this.selectKeys(eq(apiKeys.accountId, accountId)),
      this.callsLast24h(accountId),
    ]);
    return rows.map((row) => toView(row, calls.get(row.id) ?? NO_CALLS, now));
  }

  async getKey(accountId: string, keyId: string): Promise<KeyView> {
    const [[row], calls] = await Promise.all([
      this.selectKeys(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId))),
      this.callsLast24h(accountId, keyId),
    ]);
    if (!row) throw new KeyNotFound();
    return toView(row, calls.get(keyId) ?? NO_CALLS);
  }

  private selectKeys(where: SQL | undefined) {
    return this.db
      .select(keyColumns)
      .from(apiKeys)
      .leftJoin(users, eq(users.id, apiKeys.createdBy))
      .where(where)
      .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
  }

  /** Calls per key over the last 24 hours, from the minute buckets. */
  private async callsLast24h(accountId: string, keyId?: string): Promise<Map<string, CallCounts>> {
    const rows = await this.db
      .select({
        keyId: keyUsage.keyId,
        requests: sql<number>`sum(${keyUsage.requests})`.mapWith(Number),
        rejected: sql<number>`sum(${keyUsage.rejected})`.mapWith(Number),
      })
      .from(keyUsage)
      .where(
        and(
          eq(keyUsage.accountId, accountId),
          eq(keyUsage.granularity, 'minute'),
          gt(keyUsage.bucketStart, sql`now() - interval '24 hours'`),
          keyId === undefined ? undefined : eq(keyUsage.keyId, keyId),
        ),
      )
      .groupBy(keyUsage.keyId);
    return new Map(rows.map(({ keyId, ...calls }) => [keyId, calls]));
  }
}
