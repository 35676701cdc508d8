import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { CLIENT_CLOSED_REQUEST } from '../http/error-handler.js';
import { MetricsTokenRequired } from '../http/errors.js';
import { bearerTokenMatches } from './metrics-listener.js';
import type { Metrics } from './metrics.js';

/**
 * Counts every request; serves `GET /metrics` on the API port only when a token is configured, and then only
 * to its holders (the separate listener of `metricsListener` is the other way to expose them).
 */
export const metricsPlugin = fp<{ metrics: Metrics; token?: string }>(
  async (app: FastifyInstance, { metrics, token }) => {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.countRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
      done();
    });
    // A request whose client went away gets no response to count: counted as such, apart from failures.
    app.addHook('onRequestAbort', (request, done) => {
      metrics.countRequest(request.method, request.routeOptions.url ?? 'unmatched', CLIENT_CLOSED_REQUEST);
      done();
    });
    if (token === undefined) return;
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (!bearerTokenMatches(request.headers.authorization, token)) throw new MetricsTokenRequired();
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  },
  { name: 'keyward-metrics' },
);
