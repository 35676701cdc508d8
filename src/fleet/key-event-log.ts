import { and, asc, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';
import { keyEvents } from '../db/schema.js';
import type { KeyEvent } from './fleet-sync.js';

/**
 * Where key events are recorded durably: the key_events table, written in the
 * same transaction as the change. An event stays unpublished until it reached
 * Redis, so an announcer that could not reach Redis loses nothing.
 */
export interface KeyEventLog {
  markPublished(seqs: number[]): Promise<void>;
  /** Milliseconds since the last of these events was published, or null while any is unpublished. */
  sincePublishedMs(seqs: number[]): Promise<number | null>;
  /** Events still unpublished that were committed more than `olderThanMs` ago. */
  unpublished(olderThanMs: number, limit: number): Promise<KeyEvent[]>;
}

/** The key event log in its table, key_events. */
export function keyEventLog(db: Database): KeyEventLog {
  return {
    markPublished: async (seqs) => {
      await db
        .update(keyEvents)
        .set({ publishedAt: sql`now()` })
        .where(and(inArray(keyEvents.seq, seqs), isNull(keyEvents.publishedAt)));
    },
    sincePublishedMs: async (seqs) => {
      const [row] = await db
        .select({
          unpublished: sql<number>`count(*) FILTER (WHERE ${keyEvents.publishedAt} IS NULL)`.mapWith(Number),
          sinceMs: sql<number>`extract(epoch FROM now() - max(${keyEvents.publishedAt})) * 1000`.mapWith(Number),
        })
        .from(keyEvents)
        .where(inArray(keyEvents.seq, seqs));
      return row && row.unpublished === 0 ? row.sinceMs : null;
    },
    unpublished: (olderThanMs, limit) =>
      db
        .select({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt })
        .from(keyEvents)
        .where(
          and(
            isNull(keyEvents.publishedAt),
            lt(keyEvents.createdAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
          ),
        )
        .orderBy(asc(keyEvents.seq))
        .limit(limit),
  };
}

/** An event the revoker itself did not publish within this long is relayed by any instance. */
export const RELAY_AFTER_MS = 2000;
const RELAY_BATCH = 100;

/**
 * Publishes events whose announcer could not reach Redis (run by every
 * instance that can, every KEYWARD_RELAY_INTERVAL_MS). Publishing an event
 * twice is harmless: applying a change to a cache is idempotent.
 */
export async function relayUnpublished(
  eventLog: KeyEventLog,
  publish: (events: KeyEvent[]) => Promise<unknown>,
  log: FastifyBaseLogger,
): Promise<void> {
  try {
    const events = await eventLog.unpublished(RELAY_AFTER_MS, RELAY_BATCH);
    if (events.length === 0) return;
    await publish(events);
    await eventLog.markPublished(events.map((event) => event.seq));
    log.info({ count: events.length }, 'relayed key events another instance could not publish');
  } catch (error) {
    log.debug({ err: error }, 'relay failed');
  }
}
