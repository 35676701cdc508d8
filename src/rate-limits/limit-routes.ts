import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { Nullable } from '../http/json-types.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import { RateLimitObject } from '../keys/key-schemas.js';
import type { LimitsView } from './limits-view.js';

const DateTime = Type.String({ format: 'date-time' });
const USED =
  'Requests counted in this window so far: what the fleet’s instances reserved, in small batches, so it may run ' +
  'a batch ahead of the requests actually served.';

const LimitsSchema = Type.Object(
  {
    account: Type.Object(
      {
        rateLimit: Nullable(RateLimitObject, {
          description: "The account's rate limit, over all its keys together; null: none.",
        }),
        monthlyQuota: Nullable(Type.Integer(), {
          description: 'Most requests of all its keys together per calendar month (UTC); null: none.',
        }),
      },
      { description: "The account's limits, set by the operator (the account's plan, or the deployment's defaults)." },
    ),
    window: Nullable(
      Type.Object({
        used: Type.Integer({ description: USED }),
        limit: Type.Integer(),
        windowSeconds: Type.Integer(),
        resetAt: { ...DateTime, description: 'When this window ends and its count starts again at 0.' },
      }),
      { description: "The current window of the account's rate limit; null when the account has none." },
    ),
    month: Nullable(
      Type.Object({
        used: Type.Integer({
          description: `${USED} Before any reservation this month, the requests counted in the usage statistics.`,
        }),
        quota: Type.Integer(),
        resetAt: { ...DateTime, description: 'The start of next month (UTC), when the quota renews.' },
      }),
      { description: "This month's use of the monthly quota; null when the account has none." },
    ),
    keys: Type.Array(
      Type.Object({
        keyId: Type.String(),
        rateLimit: RateLimitObject,
        used: Type.Integer({ description: USED }),
        resetAt: DateTime,
      }),
      { description: 'Each active key with a rate limit of its own, and its current window.' },
    ),
  },
  {
    examples: [
      {
        account: { rateLimit: { requests: 1000, windowSeconds: 60 }, monthlyQuota: 1_000_000 },
        window: { used: 42, limit: 1000, windowSeconds: 60, resetAt: '2026-03-09T17:43:00.000Z' },
        month: { used: 812_377, quota: 1_000_000, resetAt: '2026-04-01T00:00:00.000Z' },
        keys: [
          {
            keyId: EXAMPLE.keyId,
            rateLimit: { requests: 100, windowSeconds: 60 },
            used: 16,
            resetAt: '2026-03-09T17:43:00.000Z',
          },
        ],
      },
    ],
  },
);

/** The signed-in account's rate limits and quota, and how much of each it used. */
export const limitRoutes: FastifyPluginAsyncTypebox<{ limits: LimitsView }> = async (app, { limits }) => {
  app.get(
    '/v1/limits',
    {
      config: { session: true },
      schema: {
        operationId: 'getLimits',
        summary: "The account's rate limits and monthly quota, and how much of each is used",
        description:
          'The counts are the ones every instance reserves from, read without changing them: `used` may run ' +
          'ahead of the requests served by the batches instances hold. 503 `limit_counts_unavailable` when ' +
          'Redis cannot be read (the limits still apply: each instance admits its share).',
        tags: ['keys'],
        security: SESSION_SECURITY,
        response: {
          200: LimitsSchema,
          ...errors(401, [503, 'service_unavailable', 'limit_counts_unavailable']),
        },
      },
    },
    (request) => limits.read(request.sessionUser.accountId),
  );
};
