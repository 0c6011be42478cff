/**
 * Drift: a slow departure that a per-reading z-score misses because the value never jumps. A fast
 * EWMA follows the signal closely; the baseline (spike.ts) follows it with a lag of roughly
 * slope x baseline time constant. When the two part by more than `z` standard deviations of their
 * difference on white noise (profiles.ts, ewmaDifferenceScale) for `minDurationMs`, it is a drift.
 * The fast average learns only what the baseline learns (no outliers), so a spike does not move
 * it; a drift moves it long before its readings become outliers. The duration requirement keeps
 * noise from opening an incident; once one is open, every reading over the threshold counts into it.
 */
import type { MetricRules } from '../profiles.ts';
import { M } from '../state.ts';

/** (fast - baseline) in units of its noise; 0 while warming up. */
export function driftScore(st: Float64Array, o: number, rules: MetricRules): number {
  const { warmup, minStdDev } = rules.baseline;
  if (st[o + M.count]! < warmup) return 0;
  const sd = Math.sqrt(st[o + M.variance]!);
  return (st[o + M.fast]! - st[o + M.mean]!) / (Math.max(sd, minStdDev) * rules.drift.scale);
}

/** How long (device ms) the score has been over the threshold, counting this reading; -1 if it is not. */
export function driftDuration(
  st: Float64Array,
  o: number,
  rules: MetricRules,
  score: number,
  ts: number,
): number {
  if (score <= rules.drift.z && score >= -rules.drift.z) {
    st[o + M.driftSince] = Number.NaN;
    return -1;
  }
  const since = st[o + M.driftSince]!;
  if (Number.isNaN(since)) {
    st[o + M.driftSince] = ts;
    return 0;
  }
  return ts - since;
}

export function learnFast(st: Float64Array, o: number, rules: MetricRules, x: number): void {
  const n = st[o + M.count]!;
  const b = n > 0 && 1 / n < rules.drift.beta ? rules.drift.beta : 1 / Math.max(1, n);
  st[o + M.fast] = st[o + M.fast]! + b * (x - st[o + M.fast]!);
}
