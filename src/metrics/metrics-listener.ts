import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { errorEnvelope, MetricsTokenRequired } from '../http/errors.js';
import type { Metrics } from './metrics.js';

/** Whether an Authorization header carries the bearer token; constant time, and no length is leaked. */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

/** A listener of its own for `GET /metrics` (KEYWARD_METRICS_PORT), behind the token when there is one. */
export function metricsListener(metrics: Metrics, token: string | undefined): Server {
  return createServer((request, response) => {
    const answer = (status: number, type: string, body: string) =>
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    const envelope = (status: number, code: string, message: string) =>
      answer(status, 'application/json; charset=utf-8', JSON.stringify(errorEnvelope(code, message, randomUUID())));
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      return envelope(404, 'not_found', 'This listener serves GET /metrics only.');
    }
    if (token !== undefined && !bearerTokenMatches(request.headers.authorization, token)) {
      const refusal = new MetricsTokenRequired();
      return envelope(401, 'metrics_token_required', refusal.message);
    }
    metrics.registry.metrics().then(
      (text) => answer(200, metrics.registry.contentType, text),
      () => envelope(500, 'internal_error', 'Collecting the metrics failed.'),
    );
  });
}
