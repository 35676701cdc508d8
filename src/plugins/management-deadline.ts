import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ServiceUnavailable } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    deadlineTimer?: NodeJS.Timeout;
  }
}

/**
 * Dashboard calls answer 503 rather than hang when Postgres stops answering
 * (a cut network leaves queries waiting on TCP). Nothing is half-written: a
 * transaction that never commits is rolled back by Postgres.
 */
export const managementDeadline = fp<{ timeoutMs: number }>(
  async (app: FastifyInstance, { timeoutMs }) => {
    async function startDeadline(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      request.deadlineTimer = setTimeout(() => {
        if (!reply.sent) {
          const error = new ServiceUnavailable();
          void reply.code(503).send({ error: { code: 'service_unavailable', message: error.message, requestId: request.id } });
        }
      }, timeoutMs);
    }
    app.addHook('onRoute', (route) => {
      if (route.config?.session || route.config?.csrf) {
        route.onRequest = [startDeadline, ...[route.onRequest ?? []].flat()];
      }
    });
    app.addHook('onResponse', async (request) => clearTimeout(request.deadlineTimer));
  },
  { name: 'keyward-management-deadline' },
);
