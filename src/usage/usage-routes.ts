import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { Nullable } from '../http/json-types.js';
import { KeyIdParams } from '../keys/key-schemas.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import type { KeyService } from '../keys/key-lifecycle.js';
import type { Caller, UsagePoint, UsageReport } from './usage-report.js';

const UsagePointSchema = Type.Object({ start: Type.String({ format: 'date-time' }), requests: Type.Integer() });
const DateTime = Type.String({ format: 'date-time' });
const CallerSchema = Type.Object({
  clientAddress: Type.String(),
  userAgent: Nullable(Type.String()),
  requests: Type.Integer(),
  firstSeenAt: DateTime,
  lastSeenAt: DateTime,
});
const NO_REJECTED_CALLS = { lastRejectedAt: null, requestsLast24h: 0 };

/** Example buckets from `first` on, one per count: minutes ('17:41') or hours ('16'), on 2026-03-09. */
function examplePoints(first: string, counts: number[]) {
  const [hour, minute = 0] = first.split(':').map(Number);
  const stepMs = first.includes(':') ? 60_000 : 3_600_000;
  const start = Date.UTC(2026, 2, 9, hour, minute);
  return counts.map((requests, index) => ({ start: new Date(start + index * stepMs).toISOString(), requests }));
}

const USAGE_MINUTES = examplePoints('17:41', [12, 9, 0]);
const USAGE_HOURS = examplePoints('16', [804, 377]);

/** Usage of the old key during a rotation, shortened to 3 minute and 2 hour buckets: one service still sends it. */
const USAGE_EXAMPLE = {
  keyId: EXAMPLE.keyId,
  lastUsedAt: '2026-03-09T17:42:00.000Z',
  requestsLast24h: 18342,
  minutes: USAGE_MINUTES,
  hours: USAGE_HOURS,
  callers: [
    {
      clientAddress: '10.0.3.17',
      userAgent: 'billing-worker/2.4.1',
      requests: 377,
      firstSeenAt: '2026-03-09T16:43:05.000Z',
      lastSeenAt: '2026-03-09T17:42:51.000Z',
    },
  ],
  rejected: {
    ...NO_REJECTED_CALLS,
    minutes: examplePoints('17:41', [0, 0, 0]),
    hours: examplePoints('16', [0, 0]),
    callers: [],
  },
};

/** The same key after it was revoked at 17:43: the forgotten service is refused, and seen. */
const REVOKED_USAGE_EXAMPLE = {
  ...USAGE_EXAMPLE,
  minutes: examplePoints('17:43', [0, 0, 0]),
  hours: USAGE_HOURS,
  rejected: {
    lastRejectedAt: '2026-03-09T17:45:51.000Z',
    requestsLast24h: 31,
    minutes: examplePoints('17:43', [7, 12, 12]),
    hours: examplePoints('16', [0, 31]),
    callers: [
      {
        clientAddress: '10.0.3.17',
        userAgent: 'billing-worker/2.4.1',
        requests: 31,
        firstSeenAt: '2026-03-09T17:43:08.000Z',
        lastSeenAt: '2026-03-09T17:45:51.000Z',
      },
    ],
  },
};

/** Usage per key, for the signed-in dashboard user. */
export const usageRoutes: FastifyPluginAsyncTypebox<{
  keys: KeyService;
  usageReport: UsageReport;
  maxMinutes: number;
  maxHours: number;
}> = async (app, { keys, usageReport, maxMinutes, maxHours }) => {
  app.get(
    '/v1/keys/:keyId/usage',
    {
      config: { session: true },
      schema: {
        operationId: 'getKeyUsage',
        summary: 'Requests over time and the clients calling with a key',
        description:
          'Use it before revoking an old key: `callers` lists every client address and user agent seen with the ' +
          'key in the last hour. After a revocation, `rejected` shows who still calls with it. Counts are flushed ' +
          'by each instance every KEYWARD_USAGE_FLUSH_MS.',
        tags: ['keys'],
        security: SESSION_SECURITY,
        params: KeyIdParams,
        querystring: Type.Object(
          {
            minutes: Type.Integer({ minimum: 1, maximum: maxMinutes, default: 60, description: 'Minute buckets.' }),
            hours: Type.Integer({
              minimum: 1,
              maximum: maxHours,
              default: Math.min(24 * 30, maxHours),
              description: 'Hour buckets.',
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              keyId: Type.String(),
              lastUsedAt: Nullable(DateTime),
              requestsLast24h: Type.Integer(),
              minutes: Type.Array(UsagePointSchema, {
                description: 'Oldest first, zero-filled, ending with this minute.',
              }),
              hours: Type.Array(UsagePointSchema, { description: 'Oldest first, zero-filled, ending with this hour.' }),
              callers: Type.Array(CallerSchema, {
                description: 'Clients served with the key in the last hour, most recent first.',
              }),
              rejected: Type.Object(
                {
                  lastRejectedAt: Nullable(DateTime),
                  requestsLast24h: Type.Integer(),
                  minutes: Type.Array(UsagePointSchema, { description: 'The same minutes as `minutes`.' }),
                  hours: Type.Array(UsagePointSchema, { description: 'The same hours as `hours`.' }),
                  callers: Type.Array(CallerSchema, {
                    description: 'Clients refused with the key in the last hour, most recent first.',
                  }),
                },
                {
                  description:
                    'Calls refused because the key is revoked or expired (sent with its right secret): the ' +
                    'services a rotation forgot, or that a revocation cut off.',
                },
              ),
            },
            { examples: [USAGE_EXAMPLE, REVOKED_USAGE_EXAMPLE] },
          ),
          ...errors([400, 'invalid_key_id', 'invalid_query'], 401, 404, 503),
        },
      },
    },
    async (request) => {
      const key = await keys.getKey(request.sessionUser.accountId, request.params.keyId);
      const report = await usageReport.forKey(key.id, request.query.minutes, request.query.hours);
      const point = (p: UsagePoint) => ({ start: p.start.toISOString(), requests: p.requests });
      const callerView = (caller: Caller) => ({
        ...caller,
        firstSeenAt: caller.firstSeenAt.toISOString(),
        lastSeenAt: caller.lastSeenAt.toISOString(),
      });
      return {
        keyId: key.id,
        lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
        requestsLast24h: key.requestsLast24h,
        minutes: report.minutes.map(point),
        hours: report.hours.map(point),
        callers: report.callers.map(callerView),
        rejected: {
          lastRejectedAt: key.lastRejectedAt?.toISOString() ?? null,
          requestsLast24h: key.rejectedLast24h,
          minutes: report.rejected.minutes.map(point),
          hours: report.rejected.hours.map(point),
          callers: report.rejected.callers.map(callerView),
        },
      };
    },
  );
};
