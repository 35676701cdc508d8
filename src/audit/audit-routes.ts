import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { Nullable, ScalarOrNull, StringEnum } from '../http/json-types.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import { InvalidRequest } from '../http/errors.js';
import { KEY_ID_PATTERN } from '../../packages/member/src/key-format.js';
import { ACCOUNT_AUDIT_ACTIONS, type AuditLog } from './audit-log.js';

const DateTime = Type.String({ format: 'date-time' });

/** The audit log right after a rotation with a day's grace. */
const AUDIT_EXAMPLE = {
  events: [
    {
      id: '1289',
      action: 'key.rotated',
      at: '2026-03-09T17:00:00.000Z',
      actor: EXAMPLE.email,
      keyId: EXAMPLE.newKeyId,
      clientAddress: '203.0.113.24',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15',
      details: { name: 'production (rotated 2026-03-09)', replaces: EXAMPLE.keyId },
    },
    {
      id: '1288',
      action: 'key.expiry_scheduled',
      at: '2026-03-09T17:00:00.000Z',
      actor: EXAMPLE.email,
      keyId: EXAMPLE.keyId,
      clientAddress: '203.0.113.24',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15',
      details: { expiresAt: '2026-03-10T17:00:00.000Z' },
    },
  ],
  nextCursor: 'MTI4OA',
};

function encodeCursor(id: number): string {
  return Buffer.from(String(id)).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const id = Number(Buffer.from(cursor, 'base64url').toString());
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidRequest('cursor is not one this API returned');
  return id;
}

/** The account's audit log, for the signed-in dashboard user. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ auditLog: AuditLog }> = async (app, { auditLog }) => {
  app.get(
    '/v1/audit',
    {
      config: { session: true },
      schema: {
        operationId: 'listAuditEvents',
        summary: "The account's audit log, newest first",
        description:
          'Pass `nextCursor` of a page as `cursor` to get the next (older) page; null on the last page. ' +
          '`action` and `keyId` keep only the events of that action and about that key (both: events matching ' +
          'both); a page then holds up to `limit` matching events, and its cursor continues among them, so pass ' +
          'the same filters with it.',
        tags: ['account'],
        security: SESSION_SECURITY,
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' })),
            action: Type.Optional(
              StringEnum(ACCOUNT_AUDIT_ACTIONS, {
                description: 'Only events of this action.',
                examples: ['key.revoked'],
              }),
            ),
            keyId: Type.Optional(
              Type.String({
                pattern: KEY_ID_PATTERN,
                description: 'Only events about this key (their `keyId`).',
                examples: [EXAMPLE.keyId],
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              events: Type.Array(
                Type.Object({
                  id: Type.String(),
                  action: Type.String({
                    examples: ['key.revoked'],
                    description:
                      'account.created, session.created, session.failed, session.ended, key.created, key.rotated, ' +
                      'key.revoked, key.expired, key.expiry_scheduled, key.leaked (found in public by a secret ' +
                      'scanning: details url, source, type; actor secret-scanning:github), key.renamed (details: ' +
                      'from, name), password.changed, session.others_ended (details: sessions)',
                  }),
                  at: DateTime,
                  actor: Nullable(Type.String(), { description: 'Email; null for the system.' }),
                  keyId: Nullable(Type.String()),
                  clientAddress: Nullable(Type.String()),
                  userAgent: Nullable(Type.String()),
                  details: Nullable(Type.Record(Type.String(), ScalarOrNull)),
                }),
              ),
              nextCursor: Nullable(Type.String()),
            },
            { examples: [AUDIT_EXAMPLE] },
          ),
          ...errors([400, 'invalid_query'], 401, 503),
        },
      },
    },
    async (request) => {
      const before = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const { action, keyId } = request.query;
      const page = await auditLog.list(request.sessionUser.accountId, request.query.limit, before, { action, keyId });
      return {
        events: page.events.map((event) => ({ ...event, at: event.at.toISOString() })),
        nextCursor: page.next === null ? null : encodeCursor(page.next),
      };
    },
  );
};
