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
 *
 * The z-score and the learning run in the per-metric loop of DetectEngine.observe (engine.ts),
 * where the baseline's numbers stay in local variables from the z-score to the drift score.
 */
import { M } from '../state.ts';

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
