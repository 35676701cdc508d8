import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { pingDatabase, type Database } from '../db/database.js';
import type { FleetSync } from '../fleet/fleet-sync.js';
import { settleWithin } from '../../packages/member/src/timeouts.js';
import { StringEnum } from '../http/json-types.js';
import type { RateLimiter } from '../../packages/member/src/rate-limiter.js';

const Check = StringEnum(['ok', 'failing', 'not used']);
const Readiness = Type.Object(
  {
    status: StringEnum(['ready', 'degraded', 'unavailable']),
    checks: Type.Object({
      postgres: Check,
      redis: Check,
      subscription: Check,
      rateLimits: StringEnum(['ok', 'per-instance share'], {
        description:
          '`per-instance share`: Redis granted no rate-limit budget lately, so this instance admits its share ' +
          "of each limit (the limit divided by the fleet's size) on its own.",
      }),
    }),
  },
  {
    examples: [{ status: 'ready', checks: { postgres: 'ok', redis: 'ok', subscription: 'ok', rateLimits: 'ok' } }],
  },
);
const Unready = Type.Object(Readiness.properties, {
  examples: [
    {
      status: 'unavailable',
      checks: { postgres: 'failing', redis: 'failing', subscription: 'failing', rateLimits: 'per-instance share' },
    },
  ],
});

/**
 * Liveness and readiness for load balancers and orchestrators. Readiness
 * fails only when the instance can serve nothing useful: a Redis outage
 * degrades every instance alike (keys are then confirmed in Postgres), and
 * failing them all would turn a degraded fleet into a dead one.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{
  db: Database;
  fleet: FleetSync;
  rateLimits: RateLimiter;
  timeoutMs: number;
  isShuttingDown: () => boolean;
}> = async (app, { db, fleet, rateLimits, timeoutMs, isShuttingDown }) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'liveness',
        summary: 'Liveness: the process is up and serving HTTP',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { examples: [{ status: 'ok' }] }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readiness',
        summary: 'Readiness: 200 when this instance can check keys (ready or degraded), 503 when it cannot',
        tags: ['operations'],
        response: { 200: Readiness, 503: Unready },
      },
    },
    async (_request, reply) => {
      const ping = pingDatabase(db).then(
        () => true,
        () => false,
      );
      const postgresOk = (await settleWithin(ping, timeoutMs)) === true;
      const sync = fleet.status();
      const redisMode = sync.mode === 'redis';
      const checks = {
        postgres: postgresOk ? ('ok' as const) : ('failing' as const),
        redis: !redisMode ? ('not used' as const) : sync.trusted ? ('ok' as const) : ('failing' as const),
        subscription: !redisMode ? ('not used' as const) : sync.subscribed ? ('ok' as const) : ('failing' as const),
        rateLimits: rateLimits.degraded ? ('per-instance share' as const) : ('ok' as const),
      };
      const serving = !isShuttingDown() && (postgresOk || sync.trusted);
      const status = !serving
        ? 'unavailable'
        : postgresOk && sync.trusted && !rateLimits.degraded
          ? 'ready'
          : 'degraded';
      return reply.code(serving ? 200 : 503).send({ status, checks });
    },
  );
};
