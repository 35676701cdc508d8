/** Summary of repeated measurements: the median with its spread. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** 25th and 75th percentiles (interquartile range). */
  p25: number;
  p75: number;
  n: number;
}

/** Percentile by linear interpolation between closest ranks; `sorted` must be ascending. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low]!;
  return lowValue + (sorted[high]! - lowValue) * (rank - low);
}

export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(
    [...values].sort((a, b) => a - b),
    p,
  );
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: percentileOfSorted(sorted, 50),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    p25: percentileOfSorted(sorted, 25),
    p75: percentileOfSorted(sorted, 75),
    n: sorted.length,
  };
}

/** Latency percentiles of one run, in milliseconds. */
export interface LatencyPercentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

export function latencyPercentiles(samples: Float64Array | readonly number[]): LatencyPercentiles {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    count: sorted.length,
  };
}

/** Growable buffer of doubles, so long runs do not allocate one boxed number per sample. */
export class SampleBuffer {
  private data = new Float64Array(1024);
  private length = 0;

  constructor(private readonly maxSamples: number) {}

  push(value: number): void {
    if (this.length >= this.maxSamples) return;
    if (this.length === this.data.length) {
      const grown = new Float64Array(Math.min(this.data.length * 2, this.maxSamples));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  get count(): number {
    return this.length;
  }

  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}
