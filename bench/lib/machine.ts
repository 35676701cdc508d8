import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { ADMIN_DATABASE_URL, REDIS_URL } from './environment.js';
import { ROOT } from './processes.js';

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  os: string;
  /** 1-minute load average when the run started: other work on the machine shows here. */
  loadAverageAtStart: number;
  node: string;
  postgres: string;
  redis: string;
  packages: Record<string, string>;
  git: { commit: string; uncommittedChangesInSrc: number };
}

function packageVersion(name: string): string {
  try {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    };
    return manifest.version;
  } catch {
    return 'unknown';
  }
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export async function describeMachine(): Promise<MachineInfo> {
  const sql = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const [row] = await sql<{ server_version: string }[]>`SHOW server_version`;
    await redis.connect();
    const info = await redis.info('server');
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const cpu = cpus();
    return {
      date: new Date().toISOString(),
      cpuModel: cpu[0]?.model ?? 'unknown',
      cpus: cpu.length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${type()} ${release()}`,
      loadAverageAtStart: loadavg()[0]!,
      node: process.version,
      postgres: row?.server_version ?? 'unknown',
      redis: redisVersion,
      packages: Object.fromEntries(
        ['fastify', 'autocannon', '@node-rs/argon2', 'ioredis', 'postgres', 'drizzle-orm', 'tsx', 'typescript'].map(
          (name) => [name, packageVersion(name)],
        ),
      ),
      git: {
        commit: git('rev-parse', '--short', 'HEAD') || 'unknown',
        uncommittedChangesInSrc: git('status', '--porcelain', '--', 'src', 'drizzle').split('\n').filter(Boolean)
          .length,
      },
    };
  } finally {
    redis.disconnect();
    await sql.end({ timeout: 5 });
  }
}

/** Whole-machine CPU counters (all cores), from /proc/stat; zeros where it does not exist. */
export function machineCpuTimes(): { idle: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: idle time is idle + iowait.
    return { idle: fields[3]! + (fields[4] ?? 0), total: fields.reduce((sum, value) => sum + value, 0) };
  } catch {
    return { idle: 0, total: 0 };
  }
}

/** How busy the machine was during a section, to tell a quiet run from one that shared the machine. */
export interface MachineLoad {
  /** 1-minute load average at the start and end (this bench alone keeps about 2–3 processes runnable). */
  loadAverageStart: number;
  loadAverageEnd: number;
  /** Share of all cores busy during the section, percent. */
  busyPercent: number;
}

export function startLoadWatch(): () => MachineLoad {
  const loadAverageStart = loadavg()[0]!;
  const before = machineCpuTimes();
  return () => {
    const after = machineCpuTimes();
    const total = after.total - before.total;
    return {
      loadAverageStart,
      loadAverageEnd: loadavg()[0]!,
      busyPercent: total > 0 ? (100 * (total - (after.idle - before.idle))) / total : Number.NaN,
    };
  };
}
