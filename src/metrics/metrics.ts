import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { pingDatabase, type Database } from '../db/database.js';
import type { FleetSync } from '../fleet/fleet-sync.js';
import type { CheckTier, ColdCheckObserver, KeyCheck } from '../key-check/key-checker.js';
import type { KeyCheckCounter } from '../key-check/api-key-authenticator.js';
import type { PropagationObserver } from '../keys/key-lifecycle.js';
import type { KeyCache } from '../../packages/member/src/key-cache.js';
import { settleWithin } from '../../packages/member/src/timeouts.js';
import type { RateLimiter } from '../../packages/member/src/rate-limiter.js';

const TIERS: CheckTier[] = ['format', 'memory', 'redis', 'postgres'];
const OUTCOMES: KeyCheck['outcome'][] = ['valid', 'invalid', 'revoked', 'expired', 'unavailable', 'limited'];

/**
 * Prometheus metrics. The hot path only bumps plain numbers (an array slot
 * per tier × outcome, a map entry per route × status); prom-client reads them
 * at scrape time, so a request pays nothing for label lookups.
 */
export class Metrics implements ColdCheckObserver, KeyCheckCounter, PropagationObserver {
  readonly registry = new Registry();
  private readonly checkCounts = new Float64Array(TIERS.length * OUTCOMES.length);
  private readonly requestCounts = new Map<string, { method: string; route: string; status: string; count: number }>();
  readonly checkSeconds: Histogram<'tier'>;
  readonly revocationSeconds: Histogram;

  constructor() {
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
  }

  /** The gauges of this instance's state, read at scrape time: its key cache, its fleet sync and Postgres. */
  watchInstance(deps: {
    cache: KeyCache;
    fleet: FleetSync;
    rateLimits: RateLimiter;
    db: Database;
    pingTimeoutMs: number;
  }): void {
    new Gauge({
      name: 'keyward_rate_limits_degraded',
      help: 'Whether this instance admits its own share of each rate limit (Redis granted no budget lately).',
      registers: [this.registry],
      collect() {
        this.set(deps.rateLimits.degraded ? 1 : 0);
      },
    });
    new Counter({
      name: 'keyward_rate_limit_reservations_total',
      help: 'Rate-limit budget reserved from Redis (one script each): a batch of requests each, not one per request.',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(deps.rateLimits.reservations);
      },
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

  propagated(seconds: number): void {
    this.revocationSeconds.observe(seconds);
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
