import { and, desc, eq, gt, isNotNull, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import {
  boundedTransaction,
  sqlState,
  UNIQUE_VIOLATION,
  type CommitGuard,
  type Database,
  type Transaction,
  type TransactionLimits,
} from '../db/database.js';
import { accounts, apiKeys, auditEvents, keyEvents, keyUsage, users } from '../db/schema.js';
import { KeyLimitReached, KeyNotActive, KeyNotFound, RotationPending } from '../errors.js';
import { generateKey, keyHint } from '../keys/key-format.js';
import type { SecretHasher } from '../keys/secret-hashing.js';
import { recordAudit, type Actor } from './audit.js';
import type { KeyEvent } from '../key-check/fleet-sync.js';

/** Most keys an account may have active at once: one in use, one being rolled out. */
export const MAX_ACTIVE_KEYS = 2;
const ACTIVE_SLOTS = Array.from({ length: MAX_ACTIVE_KEYS }, (_, index) => index + 1);

export type KeyStatus = 'active' | 'revoked' | 'expired';

/** Where a secret scanner found a key in public (GitHub: the match's `url`, `source` and `type`). */
export interface LeakReport {
  /** May be empty: GitHub does not always know one. */
  url: string;
  source: string;
  type: string;
}

/** Why and when a key ended, and where it was found if it leaked. */
export interface KeyRevocation {
  /** `revoked` on request, `leaked` revoked by a secret scanning report, `expired` by its scheduled expiry. */
  reason: 'revoked' | 'leaked' | 'expired';
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
}

/**
 * Told after a transaction that changed keys commits; resolves once no
 * instance of the fleet acts on the old state (see FleetSync).
 */
export interface KeyEventAnnouncer {
  announce(events: KeyEvent[]): Promise<void>;
}

const keyColumns = {
  id: apiKeys.id,
  name: apiKeys.name,
  hint: apiKeys.hint,
  slot: apiKeys.slot,
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
};

type KeyRow = Awaited<ReturnType<KeyService['selectKeys']>>[number];

/** A key's calls in the last 24 hours: served and refused. */
interface CallCounts {
  requests: number;
  rejected: number;
}

const NO_CALLS: CallCounts = { requests: 0, rejected: 0 };

function toView(row: KeyRow, calls: CallCounts, now = new Date()): KeyView {
  const status: KeyStatus = row.revokedAt ? 'revoked' : row.expiresAt && row.expiresAt <= now ? 'expired' : 'active';
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
  };
}

function revocationOf(row: KeyRow, status: KeyStatus): KeyRevocation | null {
  if (status === 'active') return null;
  const leak = row.leakedAt ? { url: row.leakUrl ?? '', source: row.leakSource ?? '', reportedAt: row.leakedAt } : null;
  if (row.revokedAt) return { reason: row.revocationReason ?? 'revoked', at: row.revokedAt, leak };
  return { reason: 'expired', at: row.expiresAt!, leak };
}

/** A key that holds its slot past now: a passed expiry frees the slot at the account's next change. */
const activeAfterNow = or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, sql`now()`));

/** " (rotated)" and " (rotated 2026-03-09)" suffixes, however many a name collected before. */
const ROTATED_SUFFIXES = /(?:\s*\(rotated(?: \d{4}-\d{2}-\d{2})?\))+$/;
export const MAX_KEY_NAME_LENGTH = 100;

/**
 * The default name of a rotation's new key: the old name with the day of the rotation, e.g.
 * "production (rotated 2026-03-09)". Rotating that key again replaces the suffix rather than adding
 * one ("production (rotated) (rotated)" was the old behaviour), so names never grow.
 */
export function rotatedKeyName(oldName: string, now = new Date()): string {
  const suffix = ` (rotated ${now.toISOString().slice(0, 10)})`;
  const base = oldName.replace(ROTATED_SUFFIXES, '').trim() || 'API key';
  return base.slice(0, MAX_KEY_NAME_LENGTH - suffix.length).trimEnd() + suffix;
}

export interface NewKey {
  accountId: string;
  actor: Actor;
  name?: string;
  /** The key stops working this many seconds after it is created (every check tier reads expires_at). */
  expiresInSeconds?: number;
}

export interface KeyRotation {
  accountId: string;
  actor: Actor;
  /** The key being replaced. */
  keyId: string;
  name?: string;
  /** Schedules the old key's expiry this many seconds ahead (0 ends it at once); absent: it stays until revoked. */
  expireOldKeyInSeconds?: number;
}

/** The key lifecycle: create, list, rotate, revoke. Postgres is the source of truth. */
export class KeyService {
  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
    private readonly keyPrefix: string,
    private readonly announcer: KeyEventAnnouncer,
    private readonly limits: TransactionLimits,
  ) {}

  /** The turn of the last key change per account on this instance (see {@link inTurn}). */
  private readonly turns = new Map<string, Promise<void>>();

  /**
   * Runs the changes that take a slot (create, rotate) one at a time per account on this instance, so each
   * reads the slots its predecessor left: 50 creates at once hash 2 keys and answer 48 × 409 from the cheap
   * read, instead of 50 argon2 hashes (most refused by the bounded pool or by the transaction). Across
   * instances the transaction under the account lock still decides.
   */
  private inTurn<T>(accountId: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.turns.get(accountId) ?? Promise.resolve()).then(work);
    const done = mine.then(
      () => {},
      () => {},
    );
    this.turns.set(accountId, done);
    void done.then(() => {
      if (this.turns.get(accountId) === done) this.turns.delete(accountId);
    });
    return mine;
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

  /** Every key of the account, newest first, revoked ones included. */
  async listKeys(accountId: string): Promise<KeyView[]> {
    const now = new Date();
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

  /** Creates a key; the returned `key` is the only time the full key exists outside its holder. */
  createKey(input: NewKey, guard?: CommitGuard): Promise<{ key: string; view: KeyView }> {
    return this.inTurn(input.accountId, () => this.createKeyInTurn(input, guard));
  }

  private async createKeyInTurn(input: NewKey, guard?: CommitGuard): Promise<{ key: string; view: KeyView }> {
    await this.refuseWhenFull(input.accountId);
    const { key, keyId } = generateKey(this.keyPrefix);
    const secretHash = await this.hasher.hash(key); // before the transaction: never hold locks across argon2
    const ended = await boundedTransaction(this.db, this.limits, guard, async (tx) => {
      const ended = await this.lockAccountAndEndExpired(tx, input.accountId);
      const { name, expiresAt } = await this.insertKey(tx, { ...input, keyId, key, secretHash });
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'key.created',
        keyId,
        details: expiresAt ? { name, expiresAt: expiresAt.toISOString() } : { name },
      });
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
    return this.inTurn(input.accountId, () => this.rotateKeyInTurn(input, guard));
  }

  private async rotateKeyInTurn(
    input: KeyRotation,
    guard?: CommitGuard,
  ): Promise<{ key: string; view: KeyView; oldKey: KeyView }> {
    await this.refuseRotationEarly(input.accountId, input.keyId, input.expireOldKeyInSeconds);
    const { key, keyId } = generateKey(this.keyPrefix);
    const secretHash = await this.hasher.hash(key);
    const ended = await boundedTransaction(this.db, this.limits, guard, async (tx) => {
      const ended = await this.lockAccountAndEndExpired(tx, input.accountId);
      const [old] = await tx
        .select({ name: apiKeys.name, slot: apiKeys.slot, expiresAt: apiKeys.expiresAt })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.accountId, input.accountId)));
      if (!old) throw new KeyNotFound();
      if (old.slot === null) throw new KeyNotActive();
      if (old.expiresAt !== null) throw new RotationPending();
      const seconds = input.expireOldKeyInSeconds;
      if (seconds === 0) {
        // Ending the old key first frees its slot for the new one.
        ended.push(...(await this.expireKeys(tx, input.accountId, [input.keyId], input.actor)));
      } else if (seconds !== undefined) {
        const [scheduled] = await tx
          .update(apiKeys)
          .set({ expiresAt: sql`now() + make_interval(secs => ${seconds})` })
          .where(eq(apiKeys.id, input.keyId))
          .returning({ expiresAt: apiKeys.expiresAt });
        ended.push(await this.recordEvent(tx, input.accountId, input.keyId, 'expiry_scheduled', scheduled!.expiresAt));
        await recordAudit(tx, input.actor, {
          accountId: input.accountId,
          action: 'key.expiry_scheduled',
          keyId: input.keyId,
          details: { expiresAt: scheduled!.expiresAt!.toISOString() },
        });
      }
      const { name } = await this.insertKey(tx, {
        accountId: input.accountId,
        actor: input.actor,
        name: input.name ?? rotatedKeyName(old.name),
        keyId,
        key,
        secretHash,
        replacesKeyId: input.keyId,
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
   * The cheap read before argon2: an account whose two slots are held by keys that stay active answers 409
   * without hashing a key it could not store. Only a hint: the transaction decides again under the
   * account's lock, and the unique index on (account, slot) is the last word.
   */
  private async refuseWhenFull(accountId: string, slotsNeeded = 1): Promise<void> {
    const [row] = await this.db
      .select({ held: sql<number>`count(*)`.mapWith(Number) })
      .from(apiKeys)
      .where(and(eq(apiKeys.accountId, accountId), isNotNull(apiKeys.slot), activeAfterNow));
    if (row!.held + slotsNeeded > ACTIVE_SLOTS.length) throw new KeyLimitReached();
  }

  /** The rotation's refusals that need no argon2, read before hashing (and decided again in the transaction). */
  private async refuseRotationEarly(accountId: string, keyId: string, expireOldKeyInSeconds?: number): Promise<void> {
    const [old] = await this.db
      .select({ slot: apiKeys.slot, expiresAt: apiKeys.expiresAt })
      .from(apiKeys)
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId)));
    if (!old) throw new KeyNotFound();
    if (old.slot === null || (old.expiresAt !== null && old.expiresAt.getTime() <= Date.now())) {
      throw new KeyNotActive();
    }
    if (old.expiresAt !== null) throw new RotationPending();
    // Ending the old key at once frees its slot for the new one; otherwise the new key needs a free slot.
    if (expireOldKeyInSeconds !== 0) await this.refuseWhenFull(accountId);
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
    const ended = await boundedTransaction(this.db, this.limits, guard, async (tx) => {
      // The account first, as every key change: locking the key row first deadlocked with a racing rotation.
      const expired = await this.lockAccountAndEndExpired(tx, input.accountId);
      if (input.leak) await this.recordLeak(tx, input.accountId, input.keyId, input.actor, input.leak);
      const revoked = await this.revokeIfActive(tx, input.accountId, input.keyId, input.actor, input.leak);
      if (revoked) return [...expired, revoked];
      const [row] = await tx
        .select({ revokedAt: apiKeys.revokedAt })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.accountId, input.accountId)));
      if (!row) throw new KeyNotFound();
      // Already ended: tell the fleet again whatever about it is unpublished (that includes an expiry just above).
      const unpublished = await tx
        .select({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt })
        .from(keyEvents)
        .where(and(eq(keyEvents.keyId, input.keyId), isNull(keyEvents.publishedAt)));
      return [...expired.filter((event) => event.keyId !== input.keyId), ...unpublished];
    });
    // The view is read while the fleet is told: the commit is done, so it shows the key revoked.
    const [view] = await Promise.all([this.getKey(input.accountId, input.keyId), this.announce(ended)]);
    return view;
  }

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
      const ended = await boundedTransaction(this.db, this.limits, undefined, (tx) =>
        this.lockAccountAndEndExpired(tx, accountId),
      );
      await this.announce(ended);
      count += ended.length;
    }
    return count;
  }

  /**
   * Serialises key changes per account (the account row is the lock) and
   * frees the slots of keys whose scheduled expiry has passed.
   */
  private async lockAccountAndEndExpired(tx: Transaction, accountId: string): Promise<KeyEvent[]> {
    // NO KEY UPDATE: key changes of one account wait for each other, while rows that merely reference the
    // account (a sign-in's session and audit record) need not wait for them. One statement takes the lock
    // and finds the keys whose scheduled expiry passed (a row with a NULL id when there are none).
    const expired = await tx
      .select({ id: apiKeys.id })
      .from(accounts)
      .leftJoin(
        apiKeys,
        and(eq(apiKeys.accountId, accounts.id), isNotNull(apiKeys.slot), lte(apiKeys.expiresAt, sql`now()`)),
      )
      .where(eq(accounts.id, accountId))
      .for('no key update', { of: accounts });
    return this.expireKeys(
      tx,
      accountId,
      expired.flatMap((row) => (row.id === null ? [] : [row.id])),
      null,
    );
  }

  /**
   * Revokes the key if it is this account's and not revoked; null when it is not (missing or already ended).
   * A leaked key is revoked only while active: an expired key stays expired.
   */
  private async revokeIfActive(
    tx: Transaction,
    accountId: string,
    keyId: string,
    actor: Actor,
    leak?: LeakReport,
  ): Promise<KeyEvent | null> {
    const [row] = await tx
      .update(apiKeys)
      .set({
        slot: null,
        revokedAt: sql`now()`,
        revokedBy: actor.userId ?? null,
        revocationReason: leak ? 'leaked' : 'revoked',
      })
      .where(
        and(
          eq(apiKeys.id, keyId),
          eq(apiKeys.accountId, accountId),
          isNull(apiKeys.revokedAt),
          leak ? isNotNull(apiKeys.slot) : undefined,
        ),
      )
      .returning({ expiresAt: apiKeys.expiresAt });
    if (!row) return null;
    const details = leak ? { url: leak.url, source: leak.source } : undefined;
    return this.recordEnd(tx, accountId, keyId, 'revoked', actor, row.expiresAt, details);
  }

  /**
   * A report of the key found in public: the first report is kept in the key's row (what the dashboard
   * shows), and each distinct place (url and source) once in the audit log. Runs under the account lock, so
   * the same report arriving at two instances at once is recorded once.
   */
  private async recordLeak(
    tx: Transaction,
    accountId: string,
    keyId: string,
    actor: Actor,
    leak: LeakReport,
  ): Promise<void> {
    await tx
      .update(apiKeys)
      .set({ leakedAt: sql`now()`, leakUrl: leak.url, leakSource: leak.source })
      .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.leakedAt)));
    const [known] = await tx
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.accountId, accountId),
          eq(auditEvents.keyId, keyId),
          eq(auditEvents.action, 'key.leaked'),
          sql`${auditEvents.details}->>'url' = ${leak.url}`,
          sql`${auditEvents.details}->>'source' = ${leak.source}`,
        ),
      )
      .limit(1);
    if (known) return;
    await recordAudit(tx, actor, {
      accountId,
      action: 'key.leaked',
      keyId,
      details: { url: leak.url, source: leak.source, type: leak.type },
    });
  }

  /** Ends keys now, as expired (a scheduled expiry that passed, or a rotation with no grace period). */
  private async expireKeys(
    tx: Transaction,
    accountId: string,
    keyIds: string[],
    /** null: the system (a scheduled expiry taking effect). */
    actor: Actor | null,
  ): Promise<KeyEvent[]> {
    const ended: KeyEvent[] = [];
    for (const keyId of keyIds) {
      // `slot IS NOT NULL` is checked on the row as it is now: the ids may come from a statement that waited
      // for the account lock while another instance ended these very keys (its join read the older rows).
      const [row] = await tx
        .update(apiKeys)
        .set({ slot: null, expiresAt: sql`LEAST(COALESCE(${apiKeys.expiresAt}, now()), now())` })
        .where(and(eq(apiKeys.id, keyId), isNotNull(apiKeys.slot)))
        .returning({ expiresAt: apiKeys.expiresAt });
      if (row) ended.push(await this.recordEnd(tx, accountId, keyId, 'expired', actor, row.expiresAt));
    }
    return ended;
  }

  /** The event and the audit record of a key that ended. */
  private async recordEnd(
    tx: Transaction,
    accountId: string,
    keyId: string,
    reason: 'revoked' | 'expired',
    actor: Actor | null,
    expiresAt: Date | null,
    details?: Record<string, string>,
  ): Promise<KeyEvent> {
    const event = await this.recordEvent(tx, accountId, keyId, reason, expiresAt);
    await recordAudit(tx, actor, {
      accountId,
      action: reason === 'revoked' ? 'key.revoked' : 'key.expired',
      keyId,
      details,
    });
    return event;
  }

  /** The event caches must hear about, written in the same transaction as the change. */
  private async recordEvent(
    tx: Transaction,
    accountId: string,
    keyId: string,
    kind: KeyEvent['kind'],
    expiresAt: Date | null,
  ): Promise<KeyEvent> {
    const [event] = await tx
      .insert(keyEvents)
      .values({ keyId, accountId, kind, expiresAt })
      .returning({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt });
    return event!;
  }

  private async insertKey(
    tx: Transaction,
    input: {
      accountId: string;
      actor: Actor;
      name?: string;
      keyId: string;
      key: string;
      secretHash: string;
      expiresInSeconds?: number;
      replacesKeyId?: string;
    },
  ): Promise<{ name: string; expiresAt: Date | null }> {
    const used = await tx
      .select({ slot: apiKeys.slot })
      .from(apiKeys)
      .where(and(eq(apiKeys.accountId, input.accountId), isNotNull(apiKeys.slot)));
    const slot = ACTIVE_SLOTS.find((candidate) => !used.some((row) => row.slot === candidate));
    if (slot === undefined) throw new KeyLimitReached();
    const name = input.name?.trim() || 'API key';
    try {
      const [row] = await tx
        .insert(apiKeys)
        .values({
          id: input.keyId,
          accountId: input.accountId,
          name,
          secretHash: input.secretHash,
          hint: keyHint(input.key),
          slot,
          createdBy: input.actor.userId,
          // The database's clock, as for a rotation's grace period: every instance compares against it.
          expiresAt:
            input.expiresInSeconds === undefined ? null : sql`now() + make_interval(secs => ${input.expiresInSeconds})`,
          replacesKeyId: input.replacesKeyId ?? null,
        })
        .returning({ expiresAt: apiKeys.expiresAt });
      return { name, expiresAt: row!.expiresAt };
    } catch (error) {
      // The account lock makes this unreachable; the unique index is the last word regardless.
      if (sqlState(error) === UNIQUE_VIOLATION) throw new KeyLimitReached();
      throw error;
    }
  }

  /** Renames a key (active or ended); audited with the old and the new name. */
  async renameKey(input: { accountId: string; actor: Actor; keyId: string; name: string }): Promise<KeyView> {
    const name = input.name.trim();
    await boundedTransaction(this.db, this.limits, undefined, async (tx) => {
      const [old] = await tx
        .select({ name: apiKeys.name })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, input.keyId), eq(apiKeys.accountId, input.accountId)))
        .for('update');
      if (!old) throw new KeyNotFound();
      if (old.name === name) return;
      await tx.update(apiKeys).set({ name }).where(eq(apiKeys.id, input.keyId));
      await recordAudit(tx, input.actor, {
        accountId: input.accountId,
        action: 'key.renamed',
        keyId: input.keyId,
        details: { from: old.name, name },
      });
    });
    return this.getKey(input.accountId, input.keyId);
  }

  private async announce(events: KeyEvent[]): Promise<void> {
    if (events.length > 0) await this.announcer.announce(events);
  }
}
