/** The formatting BENCHMARKS.md's sections share (bench/lib/report.ts and the sections' own report files). */
import type { SectionOutcome } from '../results.js';
import type { Summary } from './stats.js';

export type Verdict = 'met' | 'not met' | 'n/a';

export function number(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median [min–max] (n)" */
export function spread(summary: Summary | undefined, digits: number, unit = ''): string {
  if (!summary || summary.n === 0) return '–';
  const u = unit ? ` ${unit}` : '';
  if (summary.n === 1) return `${number(summary.median, digits)}${u} (n=1)`;
  return `${number(summary.median, digits)}${u} [${number(summary.min, digits)} – ${number(summary.max, digits)}] (n=${summary.n})`;
}

export function signed(summary: Summary | undefined, digits: number, unit: string): string {
  if (!summary || summary.n === 0) return '–';
  const sign = (value: number) => (value >= 0 ? '+' : '−') + number(Math.abs(value), digits);
  return `${sign(summary.median)} ${unit} [${sign(summary.min)} – ${sign(summary.max)}] (n=${summary.n})`;
}

export function verdict(ok: boolean | undefined): Verdict {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'not met';
}

export function failed(name: string, outcome: SectionOutcome<unknown>): string {
  return `_${name} failed in this run:_\n\n\`\`\`\n${(outcome.error ?? '').split('\n').slice(0, 8).join('\n')}\n\`\`\`\n`;
}

export function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

export function rerunNote(outcome: SectionOutcome<unknown>, name: 'fleetScale' | 'revocation' | 'rateLimits'): string {
  return outcome.rerun
    ? `_Rerun alone (\`npm run bench -- --only ${name}\`) on ${outcome.rerun.startedAt.slice(0, 16).replace('T', ' ')} UTC, commit ${outcome.rerun.commit}; the other sections are from the run described above._\n\n`
    : '';
}
