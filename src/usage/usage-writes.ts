/**
 * Writing one batch of usage counts: minute and hour buckets, callers, and each key's last use, in one
 * transaction that first records the batch id, so writing a batch again after a write that did commit adds
 * nothing.
 */
import { sql } from 'drizzle-orm';
import { boundedTransaction, type Database, type TransactionLimits } from '../db/database.js';
import { toArrayLiteral } from '../db/driver-results.js';
import { keyCallers, keyRejectedCallers, keyUsage, usageFlushes } from '../db/schema.js';
import {
  HOUR_MS,
  MINUTE_MS,
  type CallerCounts,
  type KeyCounts,
  type MinuteCounts,
} from '../../packages/member/src/usage-counts.js';

export async function writeUsageBatch(
  db: Database,
  limits: TransactionLimits,
  id: string,
  minutes: MinuteCounts[],
): Promise<void> {
  const usageRows = new Map<string, UsageRow>();
  const addUsage = (keyId: string, counts: KeyCounts, granularity: 'minute' | 'hour', bucket: number) => {
    const rowId = `${keyId}@${granularity}@${bucket}`;
    const row = usageRows.get(rowId);
    if (row) {
      row.requests += counts.accepted.requests;
      row.rejected += counts.rejected.requests;
    } else {
      usageRows.set(rowId, {
        keyId,
        accountId: counts.accountId,
        granularity,
        bucketStart: new Date(bucket),
        requests: counts.accepted.requests,
        rejected: counts.rejected.requests,
      });
    }
  };
  const lastSeen = new Map<string, { used: number; rejected: number }>();
  for (const { minute, keys } of minutes) {
    for (const [keyId, counts] of keys) {
      addUsage(keyId, counts, 'minute', minute * MINUTE_MS);
      addUsage(keyId, counts, 'hour', Math.floor((minute * MINUTE_MS) / HOUR_MS) * HOUR_MS);
      const seen = lastSeen.get(keyId) ?? { used: 0, rejected: 0 };
      lastSeen.set(keyId, {
        used: Math.max(seen.used, counts.accepted.last),
        rejected: Math.max(seen.rejected, counts.rejected.last),
      });
    }
  }
  // Rows in primary-key order: two instances flushing the same keys then lock them in the same order
  // and cannot deadlock each other.
  const usageValues = [...usageRows.values()].sort(
    (a, b) =>
      compare(a.keyId, b.keyId) ||
      compare(a.granularity, b.granularity) ||
      a.bucketStart.getTime() - b.bucketStart.getTime(),
  );
  const acceptedCallers = callerRows(minutes, (counts) => counts.accepted.callers);
  const rejectedCallers = callerRows(minutes, (counts) => counts.rejected.callers);
  const ids = [...lastSeen.keys()].sort(compare);
  const timesOf = (pick: 'used' | 'rejected') =>
    ids.map((id) => {
      const time = lastSeen.get(id)![pick];
      return time === 0 ? null : new Date(time).toISOString();
    });
  await boundedTransaction(db, limits, undefined, async (tx) => {
    const first = await tx.insert(usageFlushes).values({ id }).onConflictDoNothing().returning({ id: usageFlushes.id });
    if (first.length === 0) return; // this batch committed before; its answer was lost
    await tx
      .insert(keyUsage)
      .values(usageValues)
      .onConflictDoUpdate({
        target: [keyUsage.keyId, keyUsage.granularity, keyUsage.bucketStart],
        set: {
          requests: sql`${keyUsage.requests} + excluded.requests`,
          rejected: sql`${keyUsage.rejected} + excluded.rejected`,
        },
      });
    for (const [table, values] of [
      [keyCallers, acceptedCallers],
      [keyRejectedCallers, rejectedCallers],
    ] as const) {
      if (values.length === 0) continue;
      await tx
        .insert(table)
        .values(values)
        .onConflictDoUpdate({
          target: [table.keyId, table.clientAddress, table.userAgent],
          set: {
            requests: sql`${table.requests} + excluded.requests`,
            firstSeenAt: sql`LEAST(${table.firstSeenAt}, excluded.first_seen_at)`,
            lastSeenAt: sql`GREATEST(${table.lastSeenAt}, excluded.last_seen_at)`,
          },
        });
    }
    // GREATEST ignores NULLs: a key only used (or only refused) in this batch keeps its other time.
    await tx.execute(sql`
      UPDATE api_keys SET last_used_at = GREATEST(api_keys.last_used_at, v.used),
        last_rejected_at = GREATEST(api_keys.last_rejected_at, v.rejected)
      FROM unnest(${toArrayLiteral(ids)}::text[], ${toArrayLiteral(timesOf('used'))}::timestamptz[],
        ${toArrayLiteral(timesOf('rejected'))}::timestamptz[]) AS v(id, used, rejected)
      WHERE api_keys.id = v.id`);
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface UsageRow {
  keyId: string;
  accountId: string;
  granularity: 'minute' | 'hour';
  bucketStart: Date;
  requests: number;
  rejected: number;
}

/** One row per (key, address, user agent) over the minutes of a batch, in primary-key order. */
function callerRows(minutes: MinuteCounts[], callersOf: (counts: KeyCounts) => CallerCounts) {
  const rows = new Map<
    string,
    {
      keyId: string;
      accountId: string;
      clientAddress: string;
      userAgent: string;
      firstSeenAt: Date;
      lastSeenAt: Date;
      requests: number;
    }
  >();
  for (const { keys } of minutes) {
    for (const [keyId, counts] of keys) {
      for (const [address, byAgent] of callersOf(counts)) {
        for (const [agent, count] of byAgent) {
          const rowId = `${keyId}\n${address}\n${agent}`;
          const row = rows.get(rowId);
          if (row) {
            row.requests += count.requests;
            if (count.firstSeen < row.firstSeenAt.getTime()) row.firstSeenAt = new Date(count.firstSeen);
            if (count.lastSeen > row.lastSeenAt.getTime()) row.lastSeenAt = new Date(count.lastSeen);
          } else {
            rows.set(rowId, {
              keyId,
              accountId: counts.accountId,
              // Postgres text cannot hold NUL; Node's parser refuses it in headers, but never let one stop every flush.
              clientAddress: address.replaceAll('\u0000', ''),
              userAgent: agent.replaceAll('\u0000', ''),
              firstSeenAt: new Date(count.firstSeen),
              lastSeenAt: new Date(count.lastSeen),
              requests: count.requests,
            });
          }
        }
      }
    }
  }
  return [...rows.values()].sort(
    (a, b) =>
      compare(a.keyId, b.keyId) || compare(a.clientAddress, b.clientAddress) || compare(a.userAgent, b.userAgent),
  );
}
