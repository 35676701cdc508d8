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

/** Why a key was revoked, in `key.revoked` events. */
export type RevocationReason = 'user' | 'cli' | 'expired' | 'leaked';

/** Actor emails of operators at the command line (src/cli.ts) and of secret scanners (issue #14). */
const CLI_ACTOR_PREFIX = 'cli:';
const SECRET_SCANNING_ACTOR_PREFIX = 'secret-scanning:';

/**
 * The webhook event an audit action becomes, if any. `key.expired` (a scheduled expiry taking effect, or a
 * rotation with no grace) is told as `key.revoked` with reason `expired`: to a receiver both mean "this key
 * no longer works".
 */
export function webhookEventOf(
  action: string,
  actorEmail: string | null,
): { type: WebhookEventType; reason?: RevocationReason } | undefined {
  switch (action) {
    case 'key.created':
    case 'key.rotated':
    case 'key.expiry_scheduled':
    case 'key.leaked':
      return { type: action };
    case 'key.expired':
      return { type: 'key.revoked', reason: 'expired' };
    case 'key.revoked':
      return { type: 'key.revoked', reason: revocationReason(actorEmail) };
    default:
      return undefined;
  }
}

function revocationReason(actorEmail: string | null): RevocationReason {
  if (actorEmail?.startsWith(CLI_ACTOR_PREFIX)) return 'cli';
  if (actorEmail?.startsWith(SECRET_SCANNING_ACTOR_PREFIX)) return 'leaked';
  return 'user';
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
    actorEmail: string | null;
    details?: Record<string, string | number | null>;
  },
  onlyIf: SQL,
): SQL | undefined {
  const event = webhookEventOf(entry.action, entry.actorEmail);
  if (event === undefined || entry.accountId === null || entry.keyId === undefined) return undefined;
  const data: Record<string, unknown> = {
    ...entry.details,
    keyId: entry.keyId,
    accountId: entry.accountId,
    ...(event.reason === undefined ? {} : { reason: event.reason }),
  };
  return sql`
    INSERT INTO webhook_deliveries (endpoint_id, account_id, message_id, event_type, payload)
    SELECT e.id, e.account_id, ${`msg_${randomUUID().replaceAll('-', '')}`}, ${event.type},
      jsonb_build_object(
        'type', ${event.type}::text,
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'data', ${JSON.stringify(data)}::jsonb
          || jsonb_build_object('keyHint', (SELECT k.hint FROM api_keys k WHERE k.id = ${entry.keyId}))
      )
    FROM webhook_endpoints e
    WHERE e.account_id = ${entry.accountId} AND ${onlyIf}`;
}
