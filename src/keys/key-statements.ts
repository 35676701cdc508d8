/**
 * The statements of a key change, each run inside the change's transaction (src/keys/key-lifecycle.ts decides
 * which, and in what order). Every change locks the account row first, writes the event the fleet's caches
 * must hear about (`key_events`, the outbox) and its audit record (which also writes the webhook
 * deliveries) in the same transaction as the change itself.
 */
import { and, eq, isNotNull, isNull, lte, sql } from 'drizzle-orm';
import { KeyNotFound } from '../http/errors.js';
import { sqlState, UNIQUE_VIOLATION, type Database, type Transaction } from '../db/database.js';
import { rowsOf } from '../db/driver-results.js';
import { accounts, apiKeys, auditEvents, keyEvents } from '../db/schema.js';
import { freeSlot, KeyLimitReached } from '../db/active-key-slots.js';
import { keyHint } from '../../packages/member/src/key-format.js';
import { keyName } from './key-names.js';
import { isActiveKey } from './key-state.js';
import type { KeyRestriction } from '../../packages/member/src/key-restriction.js';
import type { KeyEvent } from '../fleet/fleet-sync.js';
import { auditStatements, recordAudit, type Actor } from '../audit/audit-log.js';
import { restrictionColumns } from './restriction-rules.js';

/** Where a secret scanner found a key in public (GitHub: the match's `url`, `source` and `type`). */
export interface LeakReport {
  /** May be empty: GitHub does not always know one. */
  url: string;
  source: string;
  type: string;
}

/**
 * Serialises key changes per account (the account row is the lock) and
 * frees the slots of keys whose scheduled expiry has passed.
 */
export async function lockAccountAndEndExpired(tx: Transaction, accountId: string): Promise<KeyEvent[]> {
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
  return expireKeys(
    tx,
    accountId,
    expired.flatMap((row) => (row.id === null ? [] : [row.id])),
    null,
  );
}

/**
 * Revokes the key, as one statement (the one way keyward revokes a key): the account row locked first, as in
 * every key change, then the key's row, its key event and its audit record (with the webhook deliveries).
 * `onlyActive` revokes only a key that is active by src/keys/key-state.ts; without it, also one that has
 * ended (expired) but is not revoked yet. Null when nothing was revoked (not this account's key, or already
 * revoked or ended). Run on its own it is its own transaction and one round trip, instead of the eight of a
 * transaction (begin, timeouts, lock, update, event, audit, deliveries, commit): the common revocation.
 */
export async function revokeKeyRow(
  db: Database | Transaction,
  change: { accountId: string; keyId: string; actor: Actor; leak?: LeakReport; onlyActive: boolean },
): Promise<KeyEvent | null> {
  const { accountId, keyId, actor, leak } = change;
  const reason = leak ? 'leaked' : 'revoked';
  const revokable = change.onlyActive ? isActiveKey : sql`${apiKeys.revokedAt} IS NULL`;
  const revoked = sql`EXISTS (SELECT 1 FROM revoked)`;
  const details = leak ? { url: leak.url, source: leak.source } : undefined;
  const audit = { accountId, action: 'key.revoked', keyId, reason, details } as const;
  const [auditRow, deliveries] = auditStatements(actor, audit, revoked);
  const rows = await db.execute(sql`
    WITH account AS (
      SELECT id FROM accounts WHERE id = ${accountId} FOR NO KEY UPDATE
    ), revoked AS (
      UPDATE api_keys SET slot = NULL, revoked_at = now(), revoked_by = ${actor.userId}::uuid, revocation_reason = ${reason}
      WHERE id = ${keyId} AND account_id = (SELECT id FROM account) AND ${revokable}
      RETURNING id, account_id, expires_at
    ), event AS (
      INSERT INTO key_events (key_id, account_id, kind, reason, expires_at)
      SELECT id, account_id, 'revoked', ${reason}, expires_at FROM revoked
      RETURNING seq, key_id, kind, expires_at
    ), audit AS (${auditRow})${deliveries === undefined ? sql`` : sql`, deliveries AS (${deliveries})`}
    SELECT seq, key_id, kind, expires_at FROM event`);
  const [event] = rowsOf<{ seq: string; key_id: string; kind: KeyEvent['kind']; expires_at: string | null }>(rows);
  if (event === undefined) return null;
  return {
    seq: Number(event.seq),
    keyId: event.key_id,
    kind: event.kind,
    expiresAt: event.expires_at === null ? null : new Date(event.expires_at),
  };
}

/** The events of a key that the fleet has not been told yet (a retried revocation tells them again). */
export function unpublishedEvents(tx: Transaction, keyId: string): Promise<KeyEvent[]> {
  return tx
    .select({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt })
    .from(keyEvents)
    .where(and(eq(keyEvents.keyId, keyId), isNull(keyEvents.publishedAt)));
}

/**
 * A report of the key found in public: the first report is kept in the key's row (what the dashboard
 * shows), and each distinct place (url and source) once in the audit log. Runs under the account lock, so
 * the same report arriving at two instances at once is recorded once.
 */
export async function recordLeak(
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
export async function expireKeys(
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
    if (!row) continue;
    ended.push(await recordEvent(tx, accountId, keyId, 'expired', row.expiresAt));
    await recordAudit(tx, actor, { accountId, action: 'key.expired', keyId, reason: 'expired' });
  }
  return ended;
}

/** Schedules the key's expiry `seconds` ahead (a rotation's grace period), by the database's clock. */
export async function scheduleExpiry(
  tx: Transaction,
  accountId: string,
  keyId: string,
  seconds: number,
  actor: Actor,
): Promise<KeyEvent> {
  const [scheduled] = await tx
    .update(apiKeys)
    .set({ expiresAt: sql`now() + make_interval(secs => ${seconds})` })
    .where(eq(apiKeys.id, keyId))
    .returning({ expiresAt: apiKeys.expiresAt });
  const event = await recordEvent(tx, accountId, keyId, 'expiry_scheduled', scheduled!.expiresAt);
  await recordAudit(tx, actor, {
    accountId,
    action: 'key.expiry_scheduled',
    keyId,
    details: { expiresAt: scheduled!.expiresAt!.toISOString() },
  });
  return event;
}

/** The event caches must hear about, written in the same transaction as the change. */
export async function recordEvent(
  tx: Transaction,
  accountId: string,
  keyId: string,
  kind: 'expired' | 'expiry_scheduled' | 'updated',
  expiresAt: Date | null,
): Promise<KeyEvent> {
  const [event] = await tx
    .insert(keyEvents)
    .values({ keyId, accountId, kind, reason: kind === 'expired' ? 'expired' : null, expiresAt })
    .returning({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt });
  return event!;
}

/** A new key's row; its secret is already hashed (never hold locks across argon2). */
export interface KeyRowToInsert {
  accountId: string;
  actor: Actor;
  name?: string;
  keyId: string;
  key: string;
  secretHash: string;
  expiresInSeconds?: number;
  replacesKeyId?: string;
  restriction: KeyRestriction;
}

/** Stores a new key in the account's free slot (the rule: src/db/active-key-slots.ts), under the account lock. */
export async function insertKey(
  tx: Transaction,
  input: KeyRowToInsert,
): Promise<{ name: string; expiresAt: Date | null }> {
  const held = await tx
    .select({ slot: apiKeys.slot })
    .from(apiKeys)
    .where(and(eq(apiKeys.accountId, input.accountId), isNotNull(apiKeys.slot)));
  const slot = freeSlot(held.map((row) => row.slot));
  if (slot === undefined) throw new KeyLimitReached();
  const name = keyName(input.name);
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
        ...restrictionColumns(input.restriction),
      })
      .returning({ expiresAt: apiKeys.expiresAt });
    return { name, expiresAt: row!.expiresAt };
  } catch (error) {
    // The account lock makes this unreachable; the unique index is the last word regardless.
    if (sqlState(error) === UNIQUE_VIOLATION) throw new KeyLimitReached();
    throw error;
  }
}

/** Changes a key's restriction: the row, the event every cache must hear about, and `key.updated`. */
export async function updateRestriction(
  tx: Transaction,
  accountId: string,
  keyId: string,
  restriction: KeyRestriction,
  actor: Actor,
  details: Record<string, string | null>,
): Promise<KeyEvent> {
  await tx.update(apiKeys).set(restrictionColumns(restriction)).where(eq(apiKeys.id, keyId));
  const event = await recordEvent(tx, accountId, keyId, 'updated', null);
  await recordAudit(tx, actor, { accountId, action: 'key.updated', keyId, details });
  return event;
}

/**
 * The key a rotation or an update changes, locked for the change: its name, state and restriction. Runs
 * after the account lock, so the row lock adds no wait; 404 when it is not this account's.
 */
export async function keyToChange(tx: Transaction, accountId: string, keyId: string) {
  const [row] = await tx
    .select({
      name: apiKeys.name,
      slot: apiKeys.slot,
      revokedAt: apiKeys.revokedAt,
      expiresAt: apiKeys.expiresAt,
      scopes: apiKeys.scopes,
      allowedNetworks: apiKeys.allowedNetworks,
      metadata: apiKeys.metadata,
      rateLimitRequests: apiKeys.rateLimitRequests,
      rateLimitWindowSeconds: apiKeys.rateLimitWindowSeconds,
    })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId)))
    .for('update');
  if (!row) throw new KeyNotFound();
  return row;
}

/** The names of the account's active keys, for a rotation's default name not to repeat one. */
export async function activeKeyNames(tx: Transaction, accountId: string): Promise<Set<string>> {
  const rows = await tx
    .select({ name: apiKeys.name })
    .from(apiKeys)
    .where(and(eq(apiKeys.accountId, accountId), isActiveKey));
  return new Set(rows.map((row) => row.name));
}
