/**
 * `key.expiring` (issue #26): an active key with an expiry is told about 7 days and 1 day before it. A key
 * whose expiry is set less than 7 days ahead (created with one, or given one by a rotation) is told at once,
 * in the transaction that sets it (lead `soon`), and again when a day remains if more than a day did. Each
 * (key, period) is a lifecycle notice, told once across the fleet (./lifecycle-notices.ts); a key with a day
 * or less left is owed only the `1d` one, so it never gets two at the same moment.
 */
import { and, eq, lte, notExists, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../db/database.js';
import { apiKeys, lifecycleNotices } from '../db/schema.js';
import { isActiveKey } from '../keys/key-state.js';
import { noticeOnce } from './lifecycle-notices.js';

/** How long before its expiry a key is told, by period (the 7 days and 1 day). */
export const EXPIRY_NOTICE_DAYS = { '7d': 7, '1d': 1 } as const;
export type ExpiryPeriod = keyof typeof EXPIRY_NOTICE_DAYS;
/** `soon`: told when the expiry was set, already less than 7 days ahead. */
export type ExpiryLead = ExpiryPeriod | 'soon';

/** Keys told per maintenance pass; the next pass tells the rest. */
const KEYS_PER_PASS = 1000;

/** The period owed now, by the database's clock: `1d` once a day or less is left, else `7d`. */
const periodDue = sql<ExpiryPeriod>`(CASE WHEN ${apiKeys.expiresAt} <= now() + make_interval(days => ${EXPIRY_NOTICE_DAYS['1d']}) THEN '1d' ELSE '7d' END)`;

/**
 * Active keys expiring within 7 days whose due notice has not been recorded: one statement, the notice
 * looked up by its primary key. Without `keyId`, every such key (a scan of the active keys' rows).
 */
function keysOwedNotice(db: Database | Transaction, keyId?: string) {
  return db
    .select({
      keyId: apiKeys.id,
      accountId: apiKeys.accountId,
      keyHint: apiKeys.hint,
      keyName: apiKeys.name,
      expiresAt: apiKeys.expiresAt,
      period: periodDue,
    })
    .from(apiKeys)
    .where(
      and(
        keyId === undefined ? undefined : eq(apiKeys.id, keyId),
        isActiveKey,
        lte(apiKeys.expiresAt, sql`now() + make_interval(days => ${EXPIRY_NOTICE_DAYS['7d']})`),
        notExists(
          db
            .select({ one: sql`1` })
            .from(lifecycleNotices)
            .where(
              and(
                eq(lifecycleNotices.kind, 'key.expiring'),
                eq(lifecycleNotices.subject, apiKeys.id),
                eq(lifecycleNotices.period, periodDue),
              ),
            ),
        ),
      ),
    )
    .orderBy(apiKeys.expiresAt)
    .limit(KEYS_PER_PASS);
}

type OwedKey = Awaited<ReturnType<typeof keysOwedNotice>>[number];

function tell(db: Database | Transaction, key: OwedKey, lead: ExpiryLead): Promise<boolean> {
  return noticeOnce(db, {
    kind: 'key.expiring',
    subject: key.keyId,
    period: key.period,
    accountId: key.accountId,
    data: {
      keyId: key.keyId,
      keyHint: key.keyHint,
      keyName: key.keyName,
      expiresAt: key.expiresAt!.toISOString(),
      lead,
    },
  });
}

/**
 * The maintenance pass: tells every key owed a notice now. Safe on every instance at once (each notice is
 * told by whichever instance records it first); returns how many this instance told.
 */
export async function sendKeyExpiringNotices(db: Database): Promise<number> {
  let told = 0;
  for (const key of await keysOwedNotice(db)) if (await tell(db, key, key.period)) told += 1;
  return told;
}

/**
 * In the transaction that gives `keyId` its expiry (creation, a rotation's grace period): tells it at once
 * if the expiry is less than 7 days ahead, so it is told with the change or not at all.
 */
export async function noticeExpirySet(tx: Transaction, keyId: string): Promise<void> {
  const [key] = await keysOwedNotice(tx, keyId);
  if (key) await tell(tx, key, 'soon');
}
