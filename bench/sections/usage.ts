/**
 * 6. The cost of usage counting on the hot path: /secured on a server with
 * KEYWARD_USAGE_TRACKING 'true' against one with 'false', interleaved.
 */
import { EnvSchema } from '../../src/config/env.js';
import { runInterleaved, summarizeVariant, type VariantSummary } from '../lib/load.js';
import { compareWithBaseline, expectOk, type VersusOpen } from './hot-path.js';
import { SERVERS, type BenchContext } from './context.js';

export interface UsageResult {
  /** False while src/config/env.ts has no KEYWARD_USAGE_TRACKING: the two servers are then identical. */
  implemented: boolean;
  label: string;
  on: VariantSummary;
  off: VariantSummary;
  /** "on" against "off": throughput ratio and added latency. */
  onVersusOff: VersusOpen;
}

export function usageTrackingImplemented(): boolean {
  return Object.hasOwn(EnvSchema.properties, 'KEYWARD_USAGE_TRACKING');
}

export async function runUsage(context: BenchContext): Promise<UsageResult> {
  const log = context.log('usage');
  const implemented = usageTrackingImplemented();
  const [on, off] = await context.servers.start(SERVERS.usageOn, SERVERS.usageOff);
  await expectOk(on!.port, ['/secured'], context.hotKey.key);
  await expectOk(off!.port, ['/secured'], context.hotKey.key);
  const headers = { 'x-api-key': context.hotKey.key };
  const runs = await runInterleaved(
    context.load,
    [
      { name: 'on', url: `${on!.url}/secured`, headers, serverPid: on!.child.process.pid },
      { name: 'off', url: `${off!.url}/secured`, headers, serverPid: off!.child.process.pid },
    ],
    context.plan.load,
    log,
  );
  return {
    implemented,
    label: implemented
      ? 'usage tracking on vs off'
      : 'usage tracking not yet implemented (KEYWARD_USAGE_TRACKING is not in src/config/env.ts: both servers are identical)',
    on: summarizeVariant(runs.on!),
    off: summarizeVariant(runs.off!),
    onVersusOff: compareWithBaseline(runs, 'on', 'off'),
  };
}
