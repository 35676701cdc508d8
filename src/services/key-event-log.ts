import { and, asc, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { keyEvents } from '../db/schema.js';
import type { KeyEvent } from '../key-check/fleet-sync.js';
import type { KeyEventLog } from '../key-check/redis-fleet-sync.js';

/** The key_events table as the fleet's outbox. */
export class PostgresKeyEventLog implements KeyEventLog {
  constructor(private readonly db: Database) {}

  async markPublished(seqs: number[]): Promise<void> {
    await this.db
      .update(keyEvents)
      .set({ publishedAt: sql`now()` })
      .where(and(inArray(keyEvents.seq, seqs), isNull(keyEvents.publishedAt)));
  }

  async sincePublishedMs(seqs: number[]): Promise<number | null> {
    const [row] = await this.db
      .select({
        unpublished: sql<number>`count(*) FILTER (WHERE ${keyEvents.publishedAt} IS NULL)`.mapWith(Number),
        sinceMs: sql<number>`extract(epoch FROM now() - max(${keyEvents.publishedAt})) * 1000`.mapWith(Number),
      })
      .from(keyEvents)
      .where(inArray(keyEvents.seq, seqs));
    return row && row.unpublished === 0 ? row.sinceMs : null;
  }

  async unpublished(olderThanMs: number, limit: number): Promise<KeyEvent[]> {
    const rows = await this.db
      .select({ seq: keyEvents.seq, keyId: keyEvents.keyId, kind: keyEvents.kind, expiresAt: keyEvents.expiresAt })
      .from(keyEvents)
      .where(
        and(
          isNull(keyEvents.publishedAt),
          lt(keyEvents.createdAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
        ),
      )
      .orderBy(asc(keyEvents.seq))
      .limit(limit);
    return rows;
  }
}
