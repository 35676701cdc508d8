import { randomUUID } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';

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
  return sql`
    INSERT INTO webhook_deliveries (endpoint_id, account_id, message_id, event_type, payload)
    SELECT e.id, e.account_id, ${`msg_${randomUUID().replaceAll('-', '')}`}, ${type},
      jsonb_build_object(
        'type', ${type}::text,
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'data', ${JSON.stringify(data)}::jsonb
          || jsonb_build_object('keyHint', (SELECT k.hint FROM api_keys k WHERE k.id = ${entry.keyId}))
      )
    FROM webhook_endpoints e
    WHERE e.account_id = ${entry.accountId} AND ${onlyIf}`;
}
