import type { BenchPlan } from './config.js';
import type { MachineInfo, MachineLoad } from './lib/machine.js';
import type { CheckCostSectionResult } from './sections/check-cost.js';
import type { ColdResult } from './sections/cold.js';
import type { FleetScaleResult } from './sections/fleet-scale.js';
import type { FloodSectionResult } from './sections/flood.js';
import type { HotPathResult } from './sections/hot-path.js';
import type { MemoryResult } from './sections/memory.js';
import type { RateLimitsResult } from './sections/rate-limits.js';
import type { RevocationResult } from './sections/revocation.js';
import type { UsageResult } from './sections/usage.js';

/** A section either produced its result or failed; the run goes on either way. */
export interface SectionOutcome<T> {
  seconds: number;
  /** Set when the section was rerun alone (`--only`), later than the rest of the run. */
  rerun?: { startedAt: string; commit: string };
  machineLoad: MachineLoad;
  result?: T;
  error?: string;
}

/** What bench/results.json holds. */
export interface BenchResults {
  schema: 'keyward-bench/1';
  mode: BenchPlan['mode'];
  startedAt: string;
  durationSec: number;
  machine: MachineInfo;
  plan: BenchPlan;
  /** keyward's defaults in effect (src/config/env.ts at the time of the run). */
  keywardDefaults: Record<string, unknown>;
  setup: { seconds: number; smallFillerInsertMs: number };
  sections: {
    memory: SectionOutcome<MemoryResult>;
    /** Absent in results written before the section existed. */
    checkCost?: SectionOutcome<CheckCostSectionResult>;
    hotPath: SectionOutcome<HotPathResult>;
    usage: SectionOutcome<UsageResult>;
    flood: SectionOutcome<FloodSectionResult>;
    cold: SectionOutcome<ColdResult>;
    revocation: SectionOutcome<RevocationResult>;
    /** Absent in results written before the section existed. */
    fleetScale?: SectionOutcome<FleetScaleResult>;
    /** Absent in results written before the section existed. */
    rateLimits?: SectionOutcome<RateLimitsResult>;
  };
  cleanup: { databasesDropped: number; redisKeysDeleted: number; redisKeysLeft: number };
}
