/**
 * 8. The fleet at scale, simulated: 10, 100 and 1,000 members, each the real
 * `RedisFleetSync` an instance runs (bench/lib/fleet-members.ts), spread over
 * member processes, on a private redis-server started for the section (so
 * its command counts and CPU are the fleet's alone). For each size: the Redis
 * commands and CPU spent on leases and heartbeats at rest, Redis memory and
 * member-process memory per member, and the duration of `announce` — the
 * fleet part of a revoke call: one script that marks and publishes, then
 * every member's acknowledgement — from one more member in this process.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pino from 'pino';
import { KeyCache } from '../../packages/member/src/key-cache.js';
import { RedisFleetSync } from '../../src/fleet/redis-fleet-sync.js';
import type { FleetMembersRequest, FleetMembersStats } from '../lib/fleet-members.js';
import { freePort, Worker } from '../lib/processes.js';
import { latencyPercentiles, type LatencyPercentiles } from '../lib/stats.js';
import type { BenchContext } from './context.js';

/** keyward's default (KEYWARD_LEASE_MS): heartbeats every lease / 6. */
const LEASE_MS = 1500;
const MEMBER_PROCESSES = 2;
const KEY_PREFIX = 'fleet-scale:';

export interface FleetScaleRow {
  members: number;
  startSeconds: number;
  /** Commands Redis executed per second with the fleet at rest, those run inside scripts included. */
  restCommandsPerSecond: number;
  /** Redis' own CPU at rest, in percent of one core. */
  restRedisCpuPercent: number;
  redisBytesPerMember: number;
  /** Of the member processes, after a full GC (RSS moves in steps too coarse for small fleets). */
  heapBytesPerMember: number;
  /** `announce` of one revocation, in ms. */
  announce: LatencyPercentiles;
}

export interface FleetScaleResult {
  leaseMs: number;
  restWindowSec: number;
  memberProcesses: number;
  rows: FleetScaleRow[];
}

/** A redis-server of the section's own, nothing kept on disk. */
async function startPrivateRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {}); // refused until the server listens: retried below
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      break;
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  probe.disconnect();
  return {
    url,
    stop: async () => {
      child.kill('SIGKILL');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** INFO fields as numbers. */
async function info(redis: Redis): Promise<Record<string, number>> {
  const text = await redis.info();
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((line) => line.includes(':'))
      .map((line) => {
        const [name, value] = line.split(':') as [string, string];
        return [name, Number(value)];
      }),
  );
}

type FleetScaleContext = Pick<BenchContext, 'plan' | 'log'>;

async function measureSize(
  context: FleetScaleContext,
  redisUrl: string,
  members: number,
  workers: Array<Worker<FleetMembersRequest, FleetMembersStats>>,
): Promise<FleetScaleRow> {
  const log = context.log('fleet scale');
  const plan = context.plan.fleetScale;
  const admin = new Redis(redisUrl);
  try {
    const before = await Promise.all(workers.map((worker) => worker.call({ op: 'stats' }, 30_000)));
    const redisBefore = await info(admin);
    const startedAt = performance.now();
    const share = (index: number) => Math.floor(members / workers.length) + (index < members % workers.length ? 1 : 0);
    const after = await Promise.all(
      workers.map((worker, index) =>
        worker.call({ op: 'start', count: share(index), redisUrl, keyPrefix: KEY_PREFIX, leaseMs: LEASE_MS }, 600_000),
      ),
    );
    const startSeconds = (performance.now() - startedAt) / 1000;
    const trusted = after.reduce((sum, stats) => sum + stats.trusted, 0);
    log(`${members} members started in ${startSeconds.toFixed(1)} s (${trusted} holding a lease)`);

    // At rest: only leases and heartbeats. One lease of settling first.
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
    const restStart = await info(admin);
    await new Promise((resolve) => setTimeout(resolve, plan.restWindowSec * 1000));
    const restEnd = await info(admin);
    const cpu = (fields: Record<string, number>) => (fields.used_cpu_sys ?? 0) + (fields.used_cpu_user ?? 0);
    // INFO itself is one command per reading.
    const restCommands = (restEnd.total_commands_processed ?? 0) - (restStart.total_commands_processed ?? 0) - 1;

    const fleet = await RedisFleetSync.start({
      redisUrl,
      keyPrefix: KEY_PREFIX,
      cache: new KeyCache(100_000, 300_000, 10_000),
      eventLog: { markPublished: async () => {}, sincePublishedMs: async () => 0, unpublished: async () => [] },
      log: pino({ level: 'warn' }),
      leaseMs: LEASE_MS,
      hotTimeoutMs: 50,
      hotSetTtlMs: 3_600_000,
      relayIntervalMs: 1000,
      revokeConfirmTimeoutMs: 5000,
    });
    const durations: number[] = [];
    try {
      for (let i = 0; i < plan.revocations; i++) {
        const event = { seq: i + 1, keyId: `simulated${String(i).padStart(7, '0')}`, kind: 'revoked' as const };
        const sent = performance.now();
        await fleet.announcer.announce([{ ...event, expiresAt: null }]);
        durations.push(performance.now() - sent);
      }
    } finally {
      await fleet.close();
    }
    const announce = latencyPercentiles(durations);
    log(`${members} members: announce p50 ${announce.p50.toFixed(1)} ms, p99 ${announce.p99.toFixed(1)} ms`);

    const heap = after.reduce((sum, stats, index) => sum + stats.heapUsedBytes - before[index]!.heapUsedBytes, 0);
    return {
      members,
      startSeconds,
      restCommandsPerSecond: restCommands / plan.restWindowSec,
      restRedisCpuPercent: ((cpu(restEnd) - cpu(restStart)) / plan.restWindowSec) * 100,
      redisBytesPerMember: ((restStart.used_memory ?? 0) - (redisBefore.used_memory ?? 0)) / members,
      heapBytesPerMember: heap / members,
      announce,
    };
  } finally {
    admin.disconnect();
    await Promise.all(workers.map((worker) => worker.call({ op: 'stop' }, 120_000)));
  }
}

export async function runFleetScale(context: FleetScaleContext): Promise<FleetScaleResult> {
  const redis = await startPrivateRedis();
  const workers: Array<Worker<FleetMembersRequest, FleetMembersStats>> = [];
  try {
    for (let i = 0; i < MEMBER_PROCESSES; i++) {
      workers.push(await Worker.start('bench/lib/fleet-members.ts', ['--expose-gc']));
    }
    const rows: FleetScaleRow[] = [];
    for (const members of context.plan.fleetScale.members) {
      rows.push(await measureSize(context, redis.url, members, workers));
    }
    return {
      leaseMs: LEASE_MS,
      restWindowSec: context.plan.fleetScale.restWindowSec,
      memberProcesses: MEMBER_PROCESSES,
      rows,
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await redis.stop();
  }
}
