/**
 * Spikes and dips: the z-score of a reading against an exponentially weighted baseline (mean and
 * variance, West 1979 / Finch 2009 "Incremental calculation of weighted mean and variance").
 *
 * The baseline learns every reading that is not an outlier, so a spike does not drag it along (a
 * run of spikes would otherwise teach the detector that spikes are normal). A level that stays
 * outlying for `relearnAfter` readings (net of inliers) is taken as the new normal: the baseline
 * starts over there, so a permanent shift (sensor moved) ends in one incident, not a storm.
 * The first readings are learned with weight 1/n, an exact mean and variance, until that is
 * smaller than alpha; nothing fires before `warmup` readings.
 */
import type { MetricRules } from '../profiles.ts';
import { M } from '../state.ts';

/** z of `x` against the baseline at offset `o`; 0 while warming up. */
export function zScore(st: Float64Array, o: number, rules: MetricRules, x: number): number {
  const { warmup, minStdDev } = rules.baseline;
  if (st[o + M.count]! < warmup) return 0;
  const sd = Math.sqrt(st[o + M.variance]!);
  return (x - st[o + M.mean]!) / Math.max(sd, minStdDev);
}

/**
 * Learns `x` into the baseline unless it is an outlier (|z| over the spike threshold); true when it
 * was learned. After relearnAfter outliers (net of inliers) the baseline starts over at `x`.
 */
export function learnBaseline(
  st: Float64Array,
  o: number,
  rules: MetricRules,
  x: number,
  z: number,
): boolean {
  const { alpha, relearnAfter } = rules.baseline;
  if (z > rules.spike.z || z < -rules.spike.z) {
    const run = st[o + M.outlierRun]! + 1;
    if (run >= relearnAfter) {
      rewarm(st, o, x);
      return true;
    }
    st[o + M.outlierRun] = run;
    return false;
  }
  const run = st[o + M.outlierRun]!;
  if (run > 0) st[o + M.outlierRun] = run - 1;
  const n = st[o + M.count]! + 1;
  st[o + M.count] = n;
  const a = Math.max(1 / n, alpha);
  const r = x - st[o + M.mean]!;
  st[o + M.mean] = st[o + M.mean]! + a * r;
  st[o + M.variance] = (1 - a) * (st[o + M.variance]! + a * r * r);
  return true;
}

/**
 * Starts the baseline over from `x` (and the fast average with it): after a level shift, or when a
 * stuck sensor moves again and what was learned before it is stale. Warms up again.
 */
export function rewarm(st: Float64Array, o: number, x: number): void {
  st[o + M.count] = 1;
  st[o + M.mean] = x;
  st[o + M.variance] = 0;
  st[o + M.fast] = x;
  st[o + M.outlierRun] = 0;
  st[o + M.driftSince] = Number.NaN;
}
