import { randomUUID } from 'node:crypto';
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { Database, Transaction } from '../db/database.js';
import { auditEvents, MAX_USER_AGENT_LENGTH, type EndReason } from '../db/schema.js';
import { cutText } from '../../packages/member/src/cut-text.js';

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

/** Where a request came from, for the audit log. */
export function clientOf(request: FastifyRequest): ClientContext {
  return { clientAddress: request.ip, userAgent: request.headers['user-agent'] ?? null };
}

/** The signed-in user making a request (session routes only). */
export function actorOf(request: FastifyRequest): Actor {
  return { ...clientOf(request), userId: request.sessionUser.userId, email: request.sessionUser.email };
}

export type AuditAction = (typeof auditEvents.action.enumValues)[number];

export interface AuditEntry {
  accountId: string | null;
  action: AuditAction;
  keyId?: string;
  /** Why the key ended (`key.revoked`, `key.expired`): recorded in the details and told to webhooks. */
  reason?: EndReason;
  details?: Record<string, string | number | null>;
}

/**
 * The statements that record one audit event: its row and, for a key change, the account's webhook
 * deliveries (`webhookDeliveries`, below). Run them in the transaction of the change they record (as
 * {@link recordAudit} does), or as parts of the change's own statement with `onlyIf`, a condition on that
 * statement's other parts (the one-statement revocation in src/keys/key-statements.ts).
 */
export function auditStatements(who: Actor | ClientContext | null, entry: AuditEntry, onlyIf: SQL = sql`true`): SQL[] {
  const actorEmail = who && 'email' in who ? who.email : null;
  const userAgent = who?.userAgent ?? null;
  const details = entry.reason === undefined ? entry.details : { reason: entry.reason, ...entry.details };
  const row = sql`
    INSERT INTO audit_events (account_id, actor_user_id, actor_email, action, key_id, client_address, user_agent, details)
    SELECT ${entry.accountId}::uuid, ${who && 'userId' in who ? who.userId : null}::uuid, ${actorEmail}::text,
      ${entry.action}::text, ${entry.keyId ?? null}::text, ${who?.clientAddress ?? null}::text,
      ${userAgent === null ? null : cutText(userAgent, MAX_USER_AGENT_LENGTH)}::text,
      ${details === undefined ? null : JSON.stringify(details)}::jsonb
    WHERE ${onlyIf}`;
  const deliveries = webhookDeliveries({ ...entry, details }, onlyIf);
  return deliveries === undefined ? [row] : [row, deliveries];
}

/** Writes one audit event (and its webhook deliveries); call it with the transaction of the change it records. */
export async function recordAudit(
  tx: Transaction | Database,
  who: Actor | ClientContext | null,
  entry: AuditEntry,
): Promise<void> {
  for (const statement of auditStatements(who, entry)) await tx.execute(statement);
}

/*
 * The webhook outbox. Every key change already writes its audit event in the change's own transaction
 * (src/audit/audit-log.ts), so that is where the outbox rows are written too: one INSERT … SELECT over the
 * account's endpoints, in the same transaction. A change that rolls back leaves no delivery; a change that
 * commits leaves one per endpoint, which the worker on some instance delivers at least once. One
 * integration point, so no key change (API, CLI, maintenance, secret scanning) can forget to tell.
 */

/** The events an endpoint hears about. */
export const WEBHOOK_EVENT_TYPES = [
  'key.created',
  'key.rotated',
  'key.expiry_scheduled',
  'key.revoked',
  'key.leaked',
  'key.updated',
  'key.expiring',
  'quota.threshold',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The webhook event an audit action becomes, if any. `key.expired` (a scheduled expiry taking effect, or a
 * rotation with no grace) is told as `key.revoked`: to a receiver both mean "this key no longer works", and
 * the event's `reason` (END_REASONS, from the audit details) says which.
 */
export function webhookEventOf(action: string): WebhookEventType | undefined {
  switch (action) {
    case 'key.created':
    case 'key.rotated':
    case 'key.expiry_scheduled':
    case 'key.revoked':
    case 'key.leaked':
    case 'key.updated':
      return action;
    case 'key.expired':
      return 'key.revoked';
    default:
      return undefined;
  }
}

/**
 * The statement that writes one delivery per endpoint of the account for an audit event that is a webhook
 * event; undefined for the others. With no endpoint it inserts nothing (one index probe on
 * webhook_endpoints). Run it in the change's transaction (src/audit/audit-log.ts does), or with `onlyIf` as
 * part of the change's own statement. The body names the key by id and hint (read from api_keys in the same
 * statement), never the key; `details` are the audit event's own (names, dates, the leak's url), which
 * never hold a secret either.
 */
export function webhookDeliveries(
  entry: {
    accountId: string | null;
    action: string;
    keyId?: string;
    details?: Record<string, string | number | null>;
  },
  onlyIf: SQL,
): SQL | undefined {
  const type = webhookEventOf(entry.action);
  if (type === undefined || entry.accountId === null || entry.keyId === undefined) return undefined;
  const data: Record<string, unknown> = { ...entry.details, keyId: entry.keyId, accountId: entry.accountId };
  return deliveriesToEndpoints(
    entry.accountId,
    type,
    sql`${JSON.stringify(data)}::jsonb
      || jsonb_build_object('keyHint', (SELECT k.hint FROM api_keys k WHERE k.id = ${entry.keyId}))`,
    onlyIf,
  );
}

/**
 * The statement that writes one delivery of an event per endpoint of the account, when `onlyIf` holds: the
 * outbox's one INSERT, for key changes (above) and lifecycle notices (src/webhooks/lifecycle-notices.ts).
 * `data` is a jsonb expression; the body is `{type, timestamp, data}`, the timestamp the transaction's.
 */
export function deliveriesToEndpoints(accountId: string, type: WebhookEventType, data: SQL, onlyIf: SQL): SQL {
  return sql`
    INSERT INTO webhook_deliveries (endpoint_id, account_id, message_id, event_type, payload)
    SELECT e.id, e.account_id, ${`msg_${randomUUID().replaceAll('-', '')}`}, ${type},
      jsonb_build_object(
        'type', ${type}::text,
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'data', ${data}
      )
    FROM webhook_endpoints e
    WHERE e.account_id = ${accountId} AND ${onlyIf}`;
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

/** The actions an account's log can hold: every one but the operator's member credentials (no account). */
export const ACCOUNT_AUDIT_ACTIONS = auditEvents.action.enumValues.filter(
  (action) => !action.startsWith('member.'),
) as Exclude<AuditAction, `member.${string}`>[];

/** Which events of the log to read: all, or those of one action and/or about one key. */
export interface AuditFilter {
  action?: AuditAction;
  keyId?: string;
}

/** The audit log as an account sees it: newest first, in pages. */
export class AuditLog {
  constructor(private readonly db: Database) {}

  /**
   * `before` is the cursor: the id of the last event of the previous page. The filter is applied by the
   * query, so a page holds `limit` matching events however rare they are, and the next page's cursor
   * continues among the matching ones (audit_events_account_idx walks the account's events newest first).
   */
  async list(
    accountId: string,
    limit: number,
    before?: number,
    filter: AuditFilter = {},
  ): Promise<{ events: AuditView[]; next: number | null }> {
    const rows = await this.db
      .select()
      .from(auditEvents)
      .where(
        and(
          eq(auditEvents.accountId, accountId),
          before === undefined ? undefined : lt(auditEvents.id, before),
          filter.action === undefined ? undefined : eq(auditEvents.action, filter.action),
          filter.keyId === undefined ? undefined : eq(auditEvents.keyId, filter.keyId),
        ),
      )
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
