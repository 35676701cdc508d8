/**
 * The chart linked from BENCHMARKS.md, drawn by hand (no dependency):
 * horizontal bars with min–max whiskers, in three panels — throughput per
 * configuration, hot-path latency, and cold-check / revocation times.
 */
import type { BenchResults } from '../results.js';
import type { Summary } from './stats.js';

interface Bar {
  label: string;
  value: number;
  min?: number;
  max?: number;
  color: string;
  /** Text after the bar; default: the value. */
  note?: string;
}

interface Panel {
  title: string;
  unit: string;
  scale: 'linear' | 'log';
  bars: Bar[];
}

const WIDTH = 960;
const LABEL_WIDTH = 300;
const NOTE_WIDTH = 150;
const BAR_HEIGHT = 16;
const ROW_HEIGHT = 24;
const PANEL_GAP = 28;
const COLORS = {
  baseline: '#9aa5b1',
  keyward: '#2f6fdf',
  reference: '#e09f3e',
  flood: '#c0392b',
  p99: '#8e44ad',
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** Coordinates with one decimal keep the file small and diffable. */
const r = (value: number) => Math.round(value * 10) / 10;

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(3)));
}

function bar(label: string, summary: Summary | undefined, color: string, note?: string): Bar[] {
  if (!summary || !Number.isFinite(summary.median)) return [];
  return [{ label, value: summary.median, min: summary.min, max: summary.max, color, note }];
}

function renderPanel(panel: Panel, top: number): { svg: string; height: number } {
  const plotLeft = LABEL_WIDTH;
  const plotWidth = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 20;
  const values = panel.bars
    .flatMap((b) => [b.value, b.min ?? b.value, b.max ?? b.value])
    .filter((v) => Number.isFinite(v) && v > 0);
  const maxValue = Math.max(...values, 1e-9);
  const minPositive = Math.min(...values, maxValue);
  const logLow = Math.floor(Math.log10(minPositive));
  const logHigh = Math.ceil(Math.log10(maxValue));
  const x = (value: number): number => {
    if (panel.scale === 'log') {
      const clamped = Math.max(value, 10 ** logLow);
      return plotLeft + ((Math.log10(clamped) - logLow) / Math.max(1, logHigh - logLow)) * plotWidth;
    }
    return plotLeft + (Math.max(0, value) / (maxValue * 1.05)) * plotWidth;
  };
  const xr = (value: number) => r(x(value));
  const parts: string[] = [];
  parts.push(`<text x="10" y="${top + 16}" class="title">${escape(panel.title)}</text>`);
  const rowsTop = top + 30;
  const plotHeight = panel.bars.length * ROW_HEIGHT;
  // Grid lines and tick labels.
  const ticks: number[] = [];
  if (panel.scale === 'log') {
    for (let exponent = logLow; exponent <= logHigh; exponent++) ticks.push(10 ** exponent);
  } else {
    const step = 10 ** Math.floor(Math.log10(maxValue * 1.05));
    const niceStep = (maxValue * 1.05) / step > 5 ? step * 2 : step;
    for (let tick = 0; tick <= maxValue * 1.05; tick += niceStep) ticks.push(tick);
  }
  for (const tick of ticks) {
    const tx = xr(tick);
    parts.push(`<line x1="${tx}" y1="${rowsTop - 4}" x2="${tx}" y2="${rowsTop + plotHeight}" class="grid"/>`);
    parts.push(`<text x="${tx}" y="${rowsTop + plotHeight + 14}" class="tick">${formatTick(tick)}</text>`);
  }
  parts.push(
    `<text x="${plotLeft + plotWidth}" y="${rowsTop + plotHeight + 28}" class="unit">${escape(panel.unit)}` +
      `${panel.scale === 'log' ? ' (log scale)' : ''}</text>`,
  );
  panel.bars.forEach((b, index) => {
    const y = rowsTop + index * ROW_HEIGHT;
    const x0 = panel.scale === 'log' ? xr(10 ** logLow) : xr(0);
    const x1 = xr(b.value);
    parts.push(`<text x="${plotLeft - 8}" y="${y + BAR_HEIGHT - 4}" class="label">${escape(b.label)}</text>`);
    parts.push(
      `<rect x="${x0}" y="${y}" width="${r(Math.max(1, x1 - x0))}" height="${BAR_HEIGHT}" fill="${b.color}" rx="2"/>`,
    );
    if (b.min !== undefined && b.max !== undefined && Number.isFinite(b.min) && Number.isFinite(b.max)) {
      const wy = y + BAR_HEIGHT / 2;
      parts.push(`<line x1="${xr(b.min)}" y1="${wy}" x2="${xr(b.max)}" y2="${wy}" class="whisker"/>`);
      for (const end of [b.min, b.max]) {
        parts.push(`<line x1="${xr(end)}" y1="${wy - 4}" x2="${xr(end)}" y2="${wy + 4}" class="whisker"/>`);
      }
    }
    const noteX = r(Math.max(x1, x(b.max ?? b.value)) + 6);
    parts.push(
      `<text x="${noteX}" y="${y + BAR_HEIGHT - 4}" class="note">${escape(b.note ?? formatNumber(b.value))}</text>`,
    );
  });
  return { svg: parts.join('\n'), height: 30 + plotHeight + 34 };
}

function panels(results: BenchResults): Panel[] {
  const hot = results.sections.hotPath.result;
  const usage = results.sections.usage.result;
  const flood = results.sections.flood.result;
  const cold = results.sections.cold.result;
  const revocation = results.sections.revocation.result;
  const usageLabel = usage?.implemented ? '' : ' (not yet implemented)';

  const throughput: Bar[] = [
    ...bar('hot path: /open (no auth)', hot?.variants.open.requestsPerSec, COLORS.baseline),
    ...bar('hot path: keyward, cached key', hot?.variants.secured.requestsPerSec, COLORS.keyward),
    ...bar('hot path: keyward, scoped key, scoped route', hot?.variants.scoped?.requestsPerSec, COLORS.keyward),
    ...bar('hot path: keyward, allowed-networks key', hot?.variants.networks?.requestsPerSec, COLORS.keyward),
    ...bar(
      'hot path: keyward, key with a limit far above the load',
      hot?.variants.limited?.requestsPerSec,
      COLORS.keyward,
    ),
    ...bar('hot path: in-memory key set (bearer-auth)', hot?.variants.set.requestsPerSec, COLORS.reference),
    ...bar('hot path: Redis GET per request', hot?.variants.redisGet.requestsPerSec, COLORS.reference),
    ...bar('hot path: better-auth api-key (peer)', hot?.variants.betterAuth?.requestsPerSec, COLORS.reference),
    ...bar(`keyward, usage tracking on${usageLabel}`, usage?.on.requestsPerSec, COLORS.keyward),
    ...bar(`keyward, usage tracking off${usageLabel}`, usage?.off.requestsPerSec, COLORS.keyward),
  ];
  for (const setting of ['default', 'off'] as const) {
    const limiter = flood?.limiters[setting];
    const name = setting === 'default' ? 'limiter default' : 'limiter off';
    throughput.push(
      ...bar(`valid load, ${name}: no flood`, limiter?.noFlood.validRequestsPerSec, COLORS.keyward),
      ...bar(`valid load, ${name}: malformed flood`, limiter?.malformed.validRequestsPerSec, COLORS.flood),
      ...bar(`valid load, ${name}: unknown-id flood`, limiter?.unknown.validRequestsPerSec, COLORS.flood),
      ...bar(`valid load, ${name}: valid-key flood`, limiter?.control.validRequestsPerSec, COLORS.baseline),
    );
  }

  const latency: Bar[] = [];
  if (hot) {
    const names = { open: '/open', secured: 'keyward', set: 'in-memory set', redisGet: 'Redis GET' } as const;
    for (const [variant, name] of Object.entries(names) as Array<[keyof typeof names, string]>) {
      const color = variant === 'open' ? COLORS.baseline : variant === 'secured' ? COLORS.keyward : COLORS.reference;
      latency.push(...bar(`${name}: p50, 1 connection`, hot.variants[variant].p50Ms, color));
      latency.push(...bar(`${name}: p99, 1 connection`, hot.variants[variant].p99Ms, COLORS.p99));
    }
  }

  const times: Bar[] = [
    ...bar('cached key, same instance', cold?.memoryHitMs, COLORS.keyward),
    ...bar('key hot in Redis, new to the instance', cold?.redisHotMs, COLORS.keyward),
    ...bar(
      `Postgres + argon2id, ${(cold?.scale.smallKeys ?? 0).toLocaleString('en-US')} keys`,
      cold?.scale.postgresArgon2Ms.small,
      COLORS.flood,
    ),
    ...bar(
      `Postgres + argon2id, ${(cold?.scale.largeKeys ?? 0).toLocaleString('en-US')} keys`,
      cold?.scale.postgresArgon2Ms.large,
      COLORS.flood,
    ),
    ...bar('unknown key id (Postgres read only), small table', cold?.scale.unknownIdMs.small, COLORS.reference),
    ...bar('unknown key id (Postgres read only), large table', cold?.scale.unknownIdMs.large, COLORS.reference),
    ...bar('revocation: first rejection, all instances', revocation?.firstRejectionMs, COLORS.keyward),
    ...bar('revocation: revoke call (DELETE) duration', revocation?.revokeCallMs, COLORS.baseline),
  ];
  return [
    {
      title: 'Throughput per configuration (median of rounds; whiskers: min–max)',
      unit: 'req/s',
      scale: 'linear',
      bars: throughput,
    },
    {
      title: 'Hot-path latency, one connection (median of rounds; whiskers: min–max)',
      unit: 'ms',
      scale: 'linear',
      bars: latency,
    },
    { title: 'Single checks and revocation (median; whiskers: min–max)', unit: 'ms', scale: 'log', bars: times },
  ];
}

export function renderChart(results: BenchResults): string {
  const parts: string[] = [];
  let top = 40;
  for (const panel of panels(results)) {
    if (panel.bars.length === 0) continue;
    const rendered = renderPanel(panel, top);
    parts.push(rendered.svg);
    top += rendered.height + PANEL_GAP;
  }
  const height = top;
  const heading =
    `keyward bench (${results.mode}) — ${results.machine.date.slice(0, 10)}, ${results.machine.cpus} × ` +
    `${results.machine.cpuModel}, load generator and server share the cores`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
  .heading { font-size: 15px; font-weight: bold; fill: #1f2933; }
  .title { font-size: 13px; font-weight: bold; fill: #1f2933; }
  .label { font-size: 12px; fill: #323f4b; text-anchor: end; }
  .note { font-size: 11px; fill: #323f4b; }
  .tick { font-size: 10px; fill: #616e7c; text-anchor: middle; }
  .unit { font-size: 11px; fill: #616e7c; text-anchor: end; }
  .grid { stroke: #e4e7eb; stroke-width: 1; }
  .whisker { stroke: #1f2933; stroke-width: 1.2; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="22" class="heading">${escape(heading)}</text>
${parts.join('\n')}
</svg>
`;
}
