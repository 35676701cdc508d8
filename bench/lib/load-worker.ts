/**
 * The load generator: a separate process that runs autocannon (through its
 * API) against one URL when asked. Throughput counts 2xx answers only;
 * latencies are taken per response from autocannon's client events, which
 * carry sub-millisecond times (its own histogram rounds to whole milliseconds).
 */
import autocannon from 'autocannon';
import { latencyPercentiles, SampleBuffer, type LatencyPercentiles } from './stats.js';
import { serveRequests } from './worker-side.js';

export interface LoadRequest {
  url: string;
  connections: number;
  durationSec: number;
  headers?: Record<string, string>;
}

export interface LoadResult {
  /** 2xx answers per second. */
  requestsPerSec: number;
  ok: number;
  /** Count per HTTP status. */
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  durationSec: number;
  /** Of 2xx answers, in milliseconds. */
  latency: LatencyPercentiles;
}

/** Bounds memory: a few seconds at the fastest rates seen here stay far below it. */
const MAX_LATENCY_SAMPLES = 2_000_000;

async function runLoad(request: LoadRequest): Promise<LoadResult> {
  const latencies = new SampleBuffer(MAX_LATENCY_SAMPLES);
  const result = await autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.durationSec,
    headers: request.headers,
    timeout: 10,
    // autocannon checks for the end of a run once per sample interval (default 1 s, which rounds every
    // duration up to whole seconds); 100 ms keeps short runs short.
    sampleInt: 100,
    setupClient: (client) => {
      client.on('response', (statusCode, _bytes, responseTime) => {
        if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      });
    },
  });
  const statusCounts: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) statusCounts[status] = count;
  return {
    requestsPerSec: result['2xx'] / result.duration,
    ok: result['2xx'],
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSec: result.duration,
    latency: latencyPercentiles(latencies.values()),
  };
}

serveRequests<LoadRequest>(runLoad);
