/**
 * `npm run chaos [-- --seconds N]`: the long chaos run (test/support/chaos-scenario.ts).
 * Three keyward instances under load for N seconds (default 45, at least 30)
 * while the long fault schedule repeats; prints progress and a summary, and
 * exits 1 if any violation was found. Needs Postgres on 127.0.0.1:5432 and redis-server (see README, Tests).
 */
import { writeFileSync } from 'node:fs';
import { formatReport, longSchedule, runChaos } from '../test/support/chaos-scenario.js';

function parseSeconds(argv: string[]): number {
  const at = argv.indexOf('--seconds');
  if (at === -1) return 45;
  const seconds = Number(argv[at + 1]);
  if (!Number.isFinite(seconds) || seconds < 30) {
    console.error('usage: chaos.ts [--seconds N]   (N ≥ 30: the long mode runs at least 30 s of load)');
    process.exit(2);
  }
  return seconds;
}

const loadMs = parseSeconds(process.argv.slice(2)) * 1000;
const schedule = longSchedule(loadMs);
const cleanups: Array<() => unknown> = [];
let failed = true;
try {
  console.log(`chaos: ${loadMs / 1000} s of load, ${schedule.length} scheduled steps`);
  const report = await runChaos(
    { teardown: (fn) => void cleanups.push(fn) },
    { loadMs, schedule, log: (line) => console.log(line) },
  );
  // For diagnosis: every request, fault, revocation and what Postgres held, as JSON.
  if (process.env.CHAOS_DUMP) writeFileSync(process.env.CHAOS_DUMP, JSON.stringify(report, null, 1));
  console.log('\n--- summary');
  for (const line of formatReport(report)) console.log(line);
  if (report.violationCount > 0) {
    console.log('\n--- instance logs (last lines, request logs left out)');
    for (const [inc, lines] of Object.entries(report.instanceLogs)) {
      for (const line of lines.slice(-25)) console.log(`process ${inc}: ${line}`);
    }
  }
  failed = report.violationCount > 0;
} catch (error) {
  console.error(error);
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup failed:', error);
    }
  }
}
process.exit(failed ? 1 : 0);
