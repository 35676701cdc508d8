import { and, eq, isNotNull, lte, sql } from 'drizzle-orm';
import { boundedTransaction, type CommitGuard, type Database, type TransactionLimits } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import { KeyNotActive, KeyNotFound } from '../http/errors.js';
import { AccountTurns } from './account-turns.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import { rotatedKeyName } from './key-names.js';
import type { SecretHasher } from './secret-hashing.js';
import { performance } from 'node:perf_hooks';
import type { KeyEvent, KeyEventAnnouncer } from '../fleet/fleet-sync.js';
import { recordAudit, type Actor } from '../audit/audit-log.js';
import {
  activeKeyNames,
  expireKeys,
  keyToChange,
  insertKey,
  lockAccountAndEndExpired,
  recordLeak,
  revokeKeyRow,
  updateRestriction,
  scheduleExpiry,
  unpublishedEvents,
  type LeakReport,
} from './key-statements.js';
import { KeyViews, type KeyView } from './key-views.js';
import { keyStatus, refuseRotationEarly, refuseWhenFull, rotationRefusal } from './key-state.js';
import {
  checkRestriction,
  definedFields,
  restrictionDetails,
  restrictionOfRow,
  type RestrictionChange,
  type ScopeCatalogue,
} from './restriction-rules.js';
import { FULL_ACCESS } from '../../packages/member/src/key-restriction.js';
import { checkKeyRateLimit, readAccountLimits } from '../rate-limits/account-plans.js';
import { NO_ACCOUNT_LIMITS, type AccountLimits } from '../../packages/member/src/rate-limits.js';
import { noticeExpirySet } from '../webhooks/key-expiring-notices.js';

export type { LeakReport } from './key-statements.js';
export type { KeyView } from './key-views.js';

/** Told how long each announcement took to reach every instance (metrics). */
export interface PropagationObserver {
  propagated(seconds: number): void;
}

export interface NewKey extends RestrictionChange {
  accountId: string;
  actor: Actor;
  name?: string;
  /** The key stops working this many seconds after it is created (every check tier reads expires_at). */
  expiresInSeconds?: number;
}

/** A rotation; a restriction field given replaces the old key's, an absent one is carried over. */
export interface KeyRotation extends RestrictionChange {
  accountId: string;
  actor: Actor;
  /** The key being replaced. */
  keyId: string;
  name?: string;
  /** Schedules the old key's expiry this many seconds ahead (0 ends it at once); absent: it stays until revoked. */
  expireOldKeyInSeconds?: number;
}

/**
 * The key lifecycle: create, rotate, revoke, rename, and the scheduled expiries. Postgres is the source of
 * truth; each change is one transaction (its statements: ./key-statements.ts), then the fleet is told
 * (`KeyEventAnnouncer`) before the call answers.
 */
export class KeyService {
  private readonly views: KeyViews;

  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
    /** Told after a transaction that changed keys commits; resolves once no instance acts on the old state. */
    private readonly announcer: KeyEventAnnouncer,
    private readonly options: {
      keyPrefix: string;
      limits: TransactionLimits;
      /** The deployment's scopes (KEYWARD_SCOPES_FILE); null: free-form scopes. */
      scopeCatalogue: ScopeCatalogue | null;
      /** The limits of an account without a plan (KEYWARD_ACCOUNT_*); default none. */
      accountDefaults?: AccountLimits;
      observer?: PropagationObserver;
    },
  ) {
    this.views = new KeyViews(db, hasher);
  }

  /** The deployment's scope catalogue, or null when scopes are free-form. */
  get scopeCatalogue(): ScopeCatalogue | null {
    return this.options.scopeCatalogue;
  }

  private readonly turns = new AccountTurns();

  /** The account's limits: its plan's, or the deployment's defaults. */
  accountLimits(accountId: string): Promise<AccountLimits> {
    return readAccountLimits(this.db, accountId, this.options.accountDefaults ?? NO_ACCOUNT_LIMITS);
  }

  /** A restriction a call sets, checked against the rules and the account's limit; answers 400 when wrong. */
  private async checkChange<Change extends RestrictionChange & { accountId: string }>(change: Change): Promise<Change> {
    checkRestriction(change, this.options.scopeCatalogue);
    if (change.rateLimit) checkKeyRateLimit(change.rateLimit, await this.accountLimits(change.accountId));
    return change;
  }

  /** Every key of the account, newest first, revoked ones included. */
  listKeys(accountId: string): Promise<KeyView[]> {
    return this.views.listKeys(accountId);
  }

  getKey(accountId: string, keyId: string): Promise<KeyView> {
    return this.views.getKey(accountId, keyId);
  }

  /** Creates a key; the returned `key` is the only time the full key exists outside its holder. */
  createKey(input: NewKey, guard?: CommitGuard): Promise<{ key: string; view: KeyView }> {
    return this.turns.run(input.accountId, () => this.createKeyInTurn(input, guard));
  }

  private async createKeyInTurn(input: NewKey, guard?: CommitGuard): Promise<{ key: string; view: KeyView }> {
    await this.checkChange(input);
    await refuseWhenFull(this.db, input.accountId);
    const { key, keyId } = generateKey(this.options.keyPrefix);
    const secretHash = await this.hasher.hash(key); // before the transaction: never hold locks across argon2
    const ended = await boundedTransaction(this.db, this.options.limits, guard, async (tx) => {
      const ended = await lockAccountAndEndExpired(tx, input.accountId);
      const restriction = { ...FULL_ACCESS, ...definedFields(input) };
      const { name, expiresAt } = await insertKey(tx, { ...input, keyId, key, secretHash, restriction });
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'key.created',
        keyId,
        details: {
          name,
          ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
          ...restrictionDetails(restriction),
        },
      });
      if (expiresAt) await noticeExpirySet(tx, keyId);
      return ended;
    });
    await this.announce(ended);
    return { key, view: await this.getKey(input.accountId, keyId) };
  }

  /**
   * Creates the key that replaces `keyId` and, when `expireOldKeyInSeconds` is
   * given, schedules the old key's expiry (0 ends it at once).
   */
  rotateKey(input: KeyRotation, guard?: CommitGuard): Promise<{ key: string; view: KeyView; oldKey: KeyView }> {
    return this.turns.run(input.accountId, () => this.rotateKeyInTurn(input, guard));
  }

  private async rotateKeyInTurn(
    input: KeyRotation,
    guard?: CommitGuard,
  ): Promise<{ key: string; view: KeyView; oldKey: KeyView }> {
    await this.checkChange(input);
    await refuseRotationEarly(this.db, input.accountId, input.keyId, input.expireOldKeyInSeconds);
    const { key, keyId } = generateKey(this.options.keyPrefix);
    const secretHash = await this.hasher.hash(key);
    const ended = await boundedTransaction(this.db, this.options.limits, guard, async (tx) => {
      const ended = await lockAccountAndEndExpired(tx, input.accountId);
      const old = await keyToChange(tx, input.accountId, input.keyId);
      const refusal = rotationRefusal(old);
      if (refusal) throw refusal;
      const seconds = input.expireOldKeyInSeconds;
      if (seconds === 0) {
        // Ending the old key first frees its slot for the new one.
        ended.push(...(await expireKeys(tx, input.accountId, [input.keyId], input.actor)));
      } else if (seconds !== undefined) {
        ended.push(await scheduleExpiry(tx, input.accountId, input.keyId, seconds, input.actor));
        await noticeExpirySet(tx, input.keyId);
      }
      const { name } = await insertKey(tx, {
        accountId: input.accountId,
        actor: input.actor,
        name: input.name ?? rotatedKeyName(old.name, new Date(), await activeKeyNames(tx, input.accountId)),
        keyId,
        key,
        secretHash,
        replacesKeyId: input.keyId,
        // The rotation keeps the old key's restriction unless the call says otherwise.
        restriction: { ...restrictionOfRow(old), ...definedFields(input) },
      });
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'key.rotated',
        keyId,
        details: { name, replaces: input.keyId },
      });
      return ended;
    });
    await this.announce(ended);
    const [view, oldKey] = await Promise.all([
      this.getKey(input.accountId, keyId),
      this.getKey(input.accountId, input.keyId),
    ]);
    return { key, view, oldKey };
  }

  /**
   * Revokes a key. Idempotent: revoking a revoked key answers the same, and
   * retries telling the fleet if an earlier attempt could not.
   *
   * With `leak` (a secret scanner found the key in public), the report is recorded first (`key.leaked`, once
   * per key, url and source, so a report GitHub retries adds nothing) and the key is revoked only if still
   * active, with the url and source in the audit details of its `key.revoked`.
   */
  async revokeKey(
    input: { accountId: string; actor: Actor; keyId: string; leak?: LeakReport },
    guard?: CommitGuard,
  ): Promise<KeyView> {
    if (!input.leak) {
      // The common case, an active key revoked on request: the statement alone, its own transaction. Any
      // other case (not this account's key, revoked, ended, past its expiry) is the transaction's below.
      guard?.enterCommit();
      const revoked = await revokeKeyRow(this.db, { ...input, onlyActive: true });
      if (revoked) return this.answerAfterAnnouncing(input.accountId, input.keyId, [revoked]);
    }
    const ended = await boundedTransaction(this.db, this.options.limits, guard, async (tx) => {
      // The account first, as every key change: locking the key row first deadlocked with a racing rotation.
      const expired = await lockAccountAndEndExpired(tx, input.accountId);
      if (input.leak) await recordLeak(tx, input.accountId, input.keyId, input.actor, input.leak);
      // A leaked key is revoked only while active: an expired key stays expired.
      const revoked = await revokeKeyRow(tx, { ...input, onlyActive: input.leak !== undefined });
      if (revoked) return [...expired, revoked];
      const [row] = await tx
        .select({ revokedAt: apiKeys.revokedAt })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.accountId, input.accountId)));
      if (!row) throw new KeyNotFound();
      // Already ended: tell the fleet again whatever about it is unpublished (that includes an expiry just above).
      const unpublished = await unpublishedEvents(tx, input.keyId);
      return [...expired.filter((event) => event.keyId !== input.keyId), ...unpublished];
    });
    return this.answerAfterAnnouncing(input.accountId, input.keyId, ended);
  }

  /** The view is read while the fleet is told: the commit is done, so it shows the key revoked. */
  private async answerAfterAnnouncing(accountId: string, keyId: string, ended: KeyEvent[]): Promise<KeyView> {
    const [view] = await Promise.all([this.getKey(accountId, keyId), this.announce(ended)]);
    return view;
  }

  /** The account a key belongs to, for operators (KeyViews.accountOfKey). */
  accountOfKey(keyId: string, fullKey?: string): Promise<string> {
    return this.views.accountOfKey(keyId, fullKey);
  }

  /**
   * Ends every key whose scheduled expiry has passed, account by account
   * (run by maintenance, so expired keys free their slot and are recorded
   * without waiting for the account's next change). Safe on every instance at
   * once: each account's row lock serialises them and the second finds nothing.
   */
  async endExpiredKeys(): Promise<number> {
    const due = await this.db
      .selectDistinct({ accountId: apiKeys.accountId })
      .from(apiKeys)
      .where(and(isNotNull(apiKeys.slot), lte(apiKeys.expiresAt, sql`now()`)))
      .limit(1000);
    let count = 0;
    for (const { accountId } of due) {
      const ended = await boundedTransaction(this.db, this.options.limits, undefined, (tx) =>
        lockAccountAndEndExpired(tx, accountId),
      );
      await this.announce(ended);
      count += ended.length;
    }
    return count;
  }

  /**
   * Renames a key (active or ended) and changes its restriction (active keys only). A changed restriction is
   * told to the fleet like a revocation: the call returns once every instance enforces it. Audited as
   * `key.renamed` (old and new name) and `key.updated` (what changed, before and after).
   */
  async updateKey(
    input: { accountId: string; actor: Actor; keyId: string; name?: string } & RestrictionChange,
    guard?: CommitGuard,
  ): Promise<KeyView> {
    const change = definedFields(await this.checkChange(input));
    const events = await boundedTransaction(this.db, this.options.limits, guard, async (tx) => {
      const old = await keyToChange(tx, input.accountId, input.keyId);
      const name = input.name?.trim();
      if (name !== undefined && old.name !== name) {
        await tx.update(apiKeys).set({ name }).where(eq(apiKeys.id, input.keyId));
        await recordAudit(tx, input.actor, {
          accountId: input.accountId,
          action: 'key.renamed',
          keyId: input.keyId,
          details: { from: old.name, name },
        });
      }
      const before = restrictionOfRow(old);
      const after = { ...before, ...change };
      const changed = restrictionDetails(after, before);
      if (Object.keys(changed).length === 0) return [];
      if (keyStatus(old) !== 'active') throw new KeyNotActive();
      return [await updateRestriction(tx, input.accountId, input.keyId, after, input.actor, changed)];
    });
    await this.announce(events);
    return this.getKey(input.accountId, input.keyId);
  }

  private async announce(events: KeyEvent[]): Promise<void> {
    if (events.length === 0) return;
    const startedAt = performance.now();
    await this.announcer.announce(events);
    this.options.observer?.propagated((performance.now() - startedAt) / 1000);
  }
}
