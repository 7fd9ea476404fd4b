/** Latency summaries from raw samples: a sorted copy and nearest-rank percentiles (no histogram dependency). */

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Summarizes samples (any unit); nearest-rank percentiles, so p50 of [1, 2] is 1. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  const count = sorted.length;
  if (count === 0) return { count: 0, min: NaN, mean: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN };
  let total = 0;
  for (const value of sorted) total += value;
  const pick = (quantile: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil(quantile * count) - 1))]!;
  return {
    count,
    min: sorted[0]!,
    mean: total / count,
    p50: pick(0.5),
    p90: pick(0.9),
    p99: pick(0.99),
    p999: pick(0.999),
    max: sorted[count - 1]!,
  };
}

/** Milliseconds (performance.now) to microseconds, rounded to 0.1 µs. */
export function toMicros(summary: Summary): Summary {
  const us = (ms: number): number => Math.round(ms * 10_000) / 10;
  return {
    count: summary.count,
    min: us(summary.min),
    mean: us(summary.mean),
    p50: us(summary.p50),
    p90: us(summary.p90),
    p99: us(summary.p99),
    p999: us(summary.p999),
    max: us(summary.max),
  };
}
