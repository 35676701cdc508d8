import { inArray } from 'drizzle-orm';
import type { TallyBody, UsageBatchBody } from '../../packages/member/src/fleet-messages.js';
import {
  agentOf,
  emptyTally,
  MINUTE_MS,
  type KeyCounts,
  type MinuteCounts,
  type Tally,
} from '../../packages/member/src/usage-counts.js';
import type { Database } from '../db/database.js';
import { apiKeys } from '../db/schema.js';
import type { Env } from '../config/env.js';
import { writeUsageBatch } from '../usage/usage-writes.js';

/** Counts for minutes further ahead than this are refused (clocks of members may drift a little). */
const FUTURE_SLACK_MS = 5 * MINUTE_MS;

/**
 * Writes a member's usage batch, idempotently under the member's batch id (a
 * retried batch adds nothing). The account of each key comes from keyward's
 * own table, never from the member; each row is judged alone, so a row for an
 * unknown key, an impossible minute or a key twice in a minute is dropped and never holds back the rest.
 */
export async function writeMemberUsage(
  db: Database,
  env: Env,
  batch: UsageBatchBody,
): Promise<{ written: number; dropped: number }> {
  const keyIds = [...new Set(batch.minutes.flatMap((minute) => minute.keys.map((key) => key.keyId)))];
  const accounts = new Map<string, string>();
  if (keyIds.length > 0) {
    const rows = await db
      .select({ id: apiKeys.id, accountId: apiKeys.accountId })
      .from(apiKeys)
      .where(inArray(apiKeys.id, keyIds));
    for (const row of rows) accounts.set(row.id, row.accountId);
  }
  const now = Date.now();
  const oldest = now - env.KEYWARD_USAGE_MINUTE_RETENTION_HOURS * 3_600_000;
  let written = 0;
  let dropped = 0;
  const minutes: MinuteCounts[] = [];
  for (const { minute, keys } of batch.minutes) {
    const at = minute * MINUTE_MS;
    const counts = new Map<string, KeyCounts>();
    for (const key of keys) {
      const accountId = accounts.get(key.keyId);
      if (accountId === undefined || at < oldest || at > now + FUTURE_SLACK_MS || counts.has(key.keyId)) {
        dropped++;
        continue;
      }
      counts.set(key.keyId, {
        accountId,
        accepted: tallyOf(key.accepted),
        rejected: tallyOf(key.rejected),
        callerCount: 0,
      });
      written++;
    }
    if (counts.size > 0) minutes.push({ minute, keys: counts });
  }
  if (minutes.length > 0) {
    const limits = {
      statementTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
      idleTimeoutMs: env.KEYWARD_DATABASE_TIMEOUT_MS,
    };
    await writeUsageBatch(db, limits, batch.batchId, minutes);
  }
  return { written, dropped };
}

function tallyOf(body: TallyBody): Tally {
  const tally = emptyTally();
  tally.requests = body.requests;
  tally.last = body.last;
  for (const caller of body.callers) {
    const agent = agentOf(caller.agent);
    let byAgent = tally.callers.get(caller.address);
    if (byAgent === undefined) tally.callers.set(caller.address, (byAgent = new Map()));
    const known = byAgent.get(agent);
    if (known) {
      known.requests += caller.requests;
      known.firstSeen = Math.min(known.firstSeen, caller.firstSeen);
      known.lastSeen = Math.max(known.lastSeen, caller.lastSeen);
    } else {
      byAgent.set(agent, { ...caller, agent });
    }
  }
  return tally;
}
