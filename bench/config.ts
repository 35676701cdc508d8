/** How much of everything a run does: the full bench (a few minutes) or `--quick` (well under a minute). */
export interface BenchPlan {
  mode: 'full' | 'quick';
  /** Interleaved load runs: every configuration once per round, in a rotating order. */
  load: {
    rounds: number;
    /** Saturating run: throughput, and latency under load. */
    throughputSec: number;
    throughputConnections: number;
    /** One connection, one request at a time: latency without queueing. */
    latencySec: number;
    /** Per configuration, before the first round. */
    warmupSec: number;
  };
  flood: {
    rounds: number;
    /** Length of each valid-load measurement; the flood starts earlier and ends later. */
    durationSec: number;
    /** Bad keys per second sent by the flood generator. */
    rate: number;
    connections: number;
  };
  cold: {
    /** Samples per cold-check kind (one more is taken and dropped as warm-up). */
    samples: number;
    /** Filler keys in the "small" and "large" databases. */
    smallRows: number;
    largeRows: number;
  };
  memory: { entries: number; repeats: number };
  /** In-process check cost: calls per repetition, repetitions (after one for warm-up). */
  checkCost: { calls: number; repeats: number };
  revocation: {
    instances: number;
    revocations: number;
    /** Polling before the revoke call, to show the key is accepted everywhere. */
    steadyMs: number;
    /** Polling after the revoke call returned. */
    afterMs: number;
  };
  /** Simulated fleets (bench/sections/fleet-scale.ts). */
  fleetScale: {
    members: number[];
    /** Length of the at-rest measurement. */
    restWindowSec: number;
    /** Announcements timed per fleet size. */
    revocations: number;
  };
  /** Rate limits across real instances (bench/sections/rate-limits.ts). */
  rateLimits: {
    instances: number;
    /** The key's own limit under load above it. */
    requests: number;
    windowSeconds: number;
    /** Load offered, as a multiple of the limit's rate, spread over the instances. */
    loadFactor: number;
    /** Windows counted, after the one the load starts in and one more of warm-up. */
    windows: number;
    connectionsPerInstance: number;
    /** The hot-path key's limit: far above any load this machine can offer. */
    farLimit: { requests: number; windowSeconds: number };
  };
}

export const FULL_PLAN: BenchPlan = {
  mode: 'full',
  load: { rounds: 7, throughputSec: 2, throughputConnections: 16, latencySec: 1, warmupSec: 2 },
  flood: { rounds: 3, durationSec: 2, rate: 2000, connections: 8 },
  cold: { samples: 15, smallRows: 10_000, largeRows: 1_000_000 },
  memory: { entries: 100_000, repeats: 3 },
  checkCost: { calls: 300_000, repeats: 7 },
  revocation: { instances: 4, revocations: 40, steadyMs: 100, afterMs: 150 },
  fleetScale: { members: [10, 100, 1000], restWindowSec: 5, revocations: 40 },
  rateLimits: {
    instances: 4,
    requests: 500,
    windowSeconds: 2,
    loadFactor: 3,
    windows: 12,
    connectionsPerInstance: 8,
    farLimit: { requests: 1_000_000_000, windowSeconds: 60 },
  },
};

export const QUICK_PLAN: BenchPlan = {
  mode: 'quick',
  load: { rounds: 2, throughputSec: 0.75, throughputConnections: 16, latencySec: 0.4, warmupSec: 0.3 },
  flood: { rounds: 1, durationSec: 0.75, rate: 2000, connections: 8 },
  cold: { samples: 3, smallRows: 1_000, largeRows: 20_000 },
  memory: { entries: 25_000, repeats: 1 },
  checkCost: { calls: 200_000, repeats: 2 },
  revocation: { instances: 4, revocations: 5, steadyMs: 50, afterMs: 100 },
  fleetScale: { members: [10, 100], restWindowSec: 2, revocations: 5 },
  rateLimits: {
    instances: 4,
    requests: 500,
    windowSeconds: 2,
    loadFactor: 3,
    windows: 3,
    connectionsPerInstance: 8,
    farLimit: { requests: 1_000_000_000, windowSeconds: 60 },
  },
};
