import { and, desc, eq, lt } from 'drizzle-orm';
import type { Database, Transaction } from '../db/database.js';
import { auditEvents } from '../db/schema.js';
import { enqueueWebhookEvent } from '../webhooks/outbox.js';

/** Where a request came from, as recorded in the audit log. */
export interface ClientContext {
  clientAddress: string;
  userAgent: string | null;
}

/** Who changes something, and from where: a signed-in user, or an operator (userId null) at the command line. */
export interface Actor extends ClientContext {
  userId: string | null;
  email: string;
}

export type AuditAction = (typeof auditEvents.action.enumValues)[number];

export interface AuditEntry {
  accountId: string | null;
  action: AuditAction;
  keyId?: string;
  details?: Record<string, string | number | null>;
}

const MAX_USER_AGENT_LENGTH = 200;

/**
 * Writes one audit event; call it with the transaction of the change it records. A key change also
 * becomes webhook deliveries here, in the same transaction (see src/webhooks/outbox.ts).
 */
export async function recordAudit(
  tx: Transaction | Database,
  who: Actor | ClientContext | null,
  entry: AuditEntry,
): Promise<void> {
  const actorEmail = who && 'email' in who ? who.email : null;
  await tx.insert(auditEvents).values({
    accountId: entry.accountId,
    actorUserId: who && 'userId' in who ? who.userId : null,
    actorEmail,
    action: entry.action,
    keyId: entry.keyId ?? null,
    clientAddress: who?.clientAddress ?? null,
    userAgent: who?.userAgent?.slice(0, MAX_USER_AGENT_LENGTH) ?? null,
    details: entry.details ?? null,
  });
  await enqueueWebhookEvent(tx, { ...entry, actorEmail });
}

export interface AuditView {
  id: string;
  action: AuditAction;
  at: Date;
  actor: string | null;
  keyId: string | null;
  clientAddress: string | null;
  userAgent: string | null;
  details: Record<string, string | number | null> | null;
}

/** The audit log as an account sees it: newest first, in pages. */
export class AuditLog {
  constructor(private readonly db: Database) {}

  /** `before` is the cursor: the id of the last event of the previous page. */
  async list(accountId: string, limit: number, before?: number): Promise<{ events: AuditView[]; next: number | null }> {
    const rows = await this.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.accountId, accountId), before === undefined ? undefined : lt(auditEvents.id, before)))
      .orderBy(desc(auditEvents.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    return {
      events: page.map((row) => ({
        id: String(row.id),
        action: row.action,
        at: row.createdAt,
        actor: row.actorEmail,
        keyId: row.keyId,
        clientAddress: row.clientAddress,
        userAgent: row.userAgent,
        details: row.details,
      })),
      next: rows.length > limit ? page[page.length - 1]!.id : null,
    };
  }
}
