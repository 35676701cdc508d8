import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { pingDatabase, type Database } from '../db/database.js';
import { CLIENT_CLOSED_REQUEST } from '../http/error-handler.js';
import type { FleetSync } from '../fleet/fleet-sync.js';
import type { CheckTier, ColdCheckObserver, KeyCheck } from '../key-check/key-checker.js';
import type { KeyEvent } from '../fleet/fleet-sync.js';
import type { KeyEventAnnouncer } from '../keys/key-lifecycle.js';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { errorEnvelope, MetricsTokenRequired } from '../http/errors.js';
import type { KeyCache } from '../../packages/member/src/key-cache.js';
import { settleWithin } from '../../packages/member/src/timeouts.js';

const TIERS: CheckTier[] = ['format', 'memory', 'redis', 'postgres'];
const OUTCOMES: KeyCheck['outcome'][] = ['valid', 'invalid', 'revoked', 'expired', 'unavailable', 'limited'];

/**
 * Prometheus metrics. The hot path only bumps plain numbers (an array slot
 * per tier × outcome, a map entry per route × status); prom-client reads them
 * at scrape time, so a request pays nothing for label lookups.
 */
export class Metrics implements ColdCheckObserver {
  readonly registry = new Registry();
  private readonly checkCounts = new Float64Array(TIERS.length * OUTCOMES.length);
  private readonly requestCounts = new Map<string, { method: string; route: string; status: string; count: number }>();
  readonly checkSeconds: Histogram<'tier'>;
  readonly revocationSeconds: Histogram;

  constructor(deps: { cache: KeyCache; fleet: FleetSync; db: Database; pingTimeoutMs: number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'keyward_process_' });
    const checkCounts = this.checkCounts;
    const requestCounts = this.requestCounts;
    new Counter({
      name: 'keyward_http_requests_total',
      help: 'HTTP requests by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
      collect() {
        for (const entry of requestCounts.values()) {
          this.labels(entry.route, entry.method, entry.status).inc(entry.count);
          entry.count = 0;
        }
      },
    });
    new Counter({
      name: 'keyward_key_checks_total',
      help: 'API key checks by outcome and by the tier that answered (format, memory, redis, postgres).',
      labelNames: ['tier', 'outcome'],
      registers: [this.registry],
      collect() {
        TIERS.forEach((tier, t) =>
          OUTCOMES.forEach((outcome, o) => {
            const index = t * OUTCOMES.length + o;
            if (checkCounts[index]! > 0) this.labels(tier, outcome).inc(checkCounts[index]!);
            checkCounts[index] = 0;
          }),
        );
      },
    });
    this.checkSeconds = new Histogram({
      name: 'keyward_key_check_seconds',
      help: 'Duration of key checks that left the process (redis, postgres tiers); in-memory hits take microseconds.',
      labelNames: ['tier'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.revocationSeconds = new Histogram({
      name: 'keyward_revocation_propagation_seconds',
      help: 'Time from a committed key change to every live instance having applied it (or its lease lapsed).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'keyward_key_cache_entries',
      help: 'Keys in this instance’s in-process cache.',
      registers: [this.registry],
      collect() {
        this.set(deps.cache.size);
      },
    });
    new Gauge({
      name: 'keyward_fleet_state',
      help: 'Fleet sync: subscribed (Redis subscription up), trusted (lease held), degraded (cache not trusted).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const status = deps.fleet.status();
        this.labels('subscribed').set(status.subscribed ? 1 : 0);
        this.labels('trusted').set(status.trusted ? 1 : 0);
        this.labels('degraded').set(status.trusted ? 0 : 1);
      },
    });
    new Gauge({
      name: 'keyward_postgres_up',
      help: 'Whether Postgres answered a ping at scrape time.',
      registers: [this.registry],
      async collect() {
        const ping = pingDatabase(deps.db).then(
          () => 1,
          () => 0,
        );
        this.set((await settleWithin(ping, deps.pingTimeoutMs)) === 1 ? 1 : 0);
      },
    });
  }

  coldCheck(tier: CheckTier, seconds: number): void {
    this.checkSeconds.labels(tier).observe(seconds);
  }

  /** Wraps the fleet's announcer to time how long a change takes to reach every instance. */
  timed<T extends { announce(events: KeyEvent[]): Promise<void> }>(announcer: T): KeyEventAnnouncer {
    return {
      announce: async (events) => {
        const startedAt = performance.now();
        await announcer.announce(events);
        this.revocationSeconds.observe((performance.now() - startedAt) / 1000);
      },
    };
  }

  countCheck(result: KeyCheck): void {
    this.checkCounts[TIERS.indexOf(result.tier) * OUTCOMES.length + OUTCOMES.indexOf(result.outcome)]!++;
  }

  countRequest(method: string, route: string, status: number): void {
    const id = `${method} ${status} ${route}`;
    const entry = this.requestCounts.get(id);
    if (entry) entry.count++;
    else this.requestCounts.set(id, { method, route, status: String(status), count: 1 });
  }
}

/** Whether an Authorization header carries the bearer token; constant time, and no length is leaked. */
export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

async function scrape(metrics: Metrics): Promise<string> {
  return metrics.registry.metrics();
}

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
      return reply.type(metrics.registry.contentType).send(await scrape(metrics));
    });
  },
  { name: 'keyward-metrics' },
);

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
    scrape(metrics).then(
      (text) => answer(200, metrics.registry.contentType, text),
      () => envelope(500, 'internal_error', 'Collecting the metrics failed.'),
    );
  });
}
