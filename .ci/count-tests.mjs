// Reads tap's TAP output and prints the plain `N passed, N failed` line CI
// reads. A test is every subtest inside a test file; a file that fails
// without a failing subtest (a crash, a timeout), or a runner that exited
// non-zero with nothing failed, counts as one failure.
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [tapFile, runnerStatus = '0'] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let failedFiles = 0;
for (const line of readFileSync(tapFile, 'utf8').split('\n')) {
  const match = /^(\s*)(not ok|ok) \d+ - .*# time=/.exec(line);
  if (!match) continue;
  const nested = match[1].length >= 4;
  const ok = match[2] === 'ok';
  if (nested && ok) passed++;
  else if (nested) failed++;
  else if (!ok) failedFiles++;
}
if (failed === 0) failed = failedFiles;
if (failed === 0 && runnerStatus !== '0') failed = 1;
if (passed === 0 && failed === 0) failed = 1; // a run that ran nothing is not a pass
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
