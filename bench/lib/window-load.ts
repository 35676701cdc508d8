/**
 * Load at a fixed rate spread over several keyward instances, each answer counted in the rate-limit window
 * it arrived in (windows aligned to the epoch, as keyward's are). Kept-alive connections, one request in
 * flight each (bench/lib/http-connection.ts keeps the client's share of the cores small); requests are handed
 * to idle connections from one tick, so the rate holds whatever each instance's answer time.
 */
import { performance } from 'node:perf_hooks';
import { HttpConnection } from './http-connection.js';
import { sleep } from './util.js';

export interface WindowLoadRequest {
  ports: number[];
  connectionsPerInstance: number;
  path: string;
  headers: Record<string, string>;
  /** Requests per second, all instances together. */
  rate: number;
  windowMs: number;
  /** The answer that admits (e.g. 204 on /v1/verify) and the one that refuses (429). */
  admittedStatus: number;
  refusedStatus: number;
  /** Epoch ms: sending stops then; answers that arrive later are not counted. */
  endAt: number;
}

export interface WindowLoadResult {
  /** Admitted answers per window index (epoch ms ÷ window), by arrival time. */
  admittedByWindow: Map<number, number>;
  admitted: number;
  refused: number;
  /** Other statuses, and failed requests as `error`. */
  unexpected: Record<string, number>;
  sentPerInstance: number[];
  /** Requests due while every connection still waited for an answer (the instances fell behind). */
  skipped: number;
  durationSec: number;
}

/** Hands out due requests this often (one timer, not one per connection). */
const TICK_MS = 2;

export async function windowLoad(request: WindowLoadRequest): Promise<WindowLoadResult> {
  const perInstance = await Promise.all(
    request.ports.map((port) =>
      Promise.all(Array.from({ length: request.connectionsPerInstance }, () => HttpConnection.open({ port }))),
    ),
  );
  // Interleaved, so that consecutive requests go to different instances.
  const idle: Array<{ connection: HttpConnection; instance: number }> = [];
  for (let slot = 0; slot < request.connectionsPerInstance; slot++) {
    perInstance.forEach((connections, instance) => idle.push({ connection: connections[slot]!, instance }));
  }
  const result: WindowLoadResult = {
    admittedByWindow: new Map(),
    admitted: 0,
    refused: 0,
    unexpected: {},
    sentPerInstance: request.ports.map(() => 0),
    skipped: 0,
    durationSec: 0,
  };
  const count = (name: string) => {
    result.unexpected[name] = (result.unexpected[name] ?? 0) + 1;
  };
  const inFlight = new Set<Promise<void>>();
  const send = (slot: { connection: HttpConnection; instance: number }) => {
    result.sentPerInstance[slot.instance]!++;
    const done = slot.connection
      .request('GET', request.path, request.headers)
      .then((response) => {
        const arrivedAt = performance.timeOrigin + response.receivedAt;
        if (arrivedAt >= request.endAt) return;
        if (response.status === request.admittedStatus) {
          const window = Math.floor(arrivedAt / request.windowMs);
          result.admittedByWindow.set(window, (result.admittedByWindow.get(window) ?? 0) + 1);
          result.admitted++;
        } else if (response.status === request.refusedStatus) result.refused++;
        else count(String(response.status));
        idle.push(slot);
      })
      .catch(() => {
        count('error'); // the connection is dropped from the pool
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };

  const startedAt = performance.now();
  let issued = 0;
  try {
    while (performance.timeOrigin + performance.now() < request.endAt) {
      const due = Math.floor(((performance.now() - startedAt) * request.rate) / 1000);
      for (; issued < due; issued++) {
        const slot = idle.shift();
        if (slot) send(slot);
        else result.skipped++;
      }
      await sleep(TICK_MS);
    }
    result.durationSec = (performance.now() - startedAt) / 1000;
    await Promise.all(inFlight);
  } finally {
    for (const connections of perInstance) for (const connection of connections) connection.close();
  }
  return result;
}
