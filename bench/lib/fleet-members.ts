/**
 * A process of simulated fleet members (bench section 8): each member is the
 * real `RedisFleetSync` an instance runs (three Redis connections, a lease
 * renewed by heartbeats, the events subscription, acknowledgements), with an
 * in-process key cache of its own and no HTTP server, no Postgres (its outbox
 * reports nothing to relay: every announcement in the bench is published).
 * Driven over IPC by bench/sections/fleet-scale.ts.
 */
import pino from 'pino';
import type { KeyEventLog } from '../../src/fleet/key-event-log.js';
import { KeyCache } from '../../packages/member/src/key-cache.js';
import { RedisFleetSync } from '../../src/fleet/redis-fleet-sync.js';
import { serveRequests } from './worker-side.js';

export type FleetMembersRequest =
  | { op: 'start'; count: number; redisUrl: string; keyPrefix: string; leaseMs: number }
  | { op: 'stats' }
  | { op: 'stop' };

export interface FleetMembersStats {
  members: number;
  trusted: number;
  /** After a full GC. */
  heapUsedBytes: number;
}

const NOTHING_TO_RELAY: KeyEventLog = {
  markPublished: async () => {},
  sincePublishedMs: async () => 0,
  unpublished: async () => [],
};

const log = pino({ level: 'warn' });
const members: RedisFleetSync[] = [];
/** Members are started this many at a time: each waits for its first lease. */
const START_BATCH = 50;

function stats(): FleetMembersStats {
  (globalThis as { gc?: () => void }).gc?.();
  return {
    members: members.length,
    trusted: members.filter((member) => member.trust.isTrusted()).length,
    heapUsedBytes: process.memoryUsage().heapUsed,
  };
}

serveRequests<FleetMembersRequest>(async (request) => {
  switch (request.op) {
    case 'start': {
      for (let started = 0; started < request.count; started += START_BATCH) {
        const batch = Math.min(START_BATCH, request.count - started);
        members.push(
          ...(await Promise.all(
            Array.from({ length: batch }, () =>
              RedisFleetSync.start({
                redisUrl: request.redisUrl,
                keyPrefix: request.keyPrefix,
                // As an instance's default cache would be, but it stays empty: its size is not what is measured.
                cache: new KeyCache(100_000, 300_000, 10_000),
                eventLog: NOTHING_TO_RELAY,
                log,
                leaseMs: request.leaseMs,
                hotTimeoutMs: 50,
                hotSetTtlMs: 3_600_000,
                relayIntervalMs: 1000,
                revokeConfirmTimeoutMs: 5000,
              }),
            ),
          )),
        );
      }
      return stats();
    }
    case 'stats':
      return stats();
    case 'stop':
      await Promise.all(members.splice(0).map((member) => member.close()));
      return stats();
  }
});
