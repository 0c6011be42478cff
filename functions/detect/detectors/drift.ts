/**
 * Drift: a slow departure that a per-reading z-score misses because the value never jumps. A fast
 * EWMA follows the signal closely; the baseline (spike.ts) follows it with a lag of roughly
 * slope x baseline time constant. When the two part by more than `z` standard deviations of their
 * difference on white noise (profiles.ts, ewmaDifferenceScale) for `minDurationMs`, it is a drift.
 * The fast average learns only what the baseline learns (no outliers), so a spike does not move
 * it; a drift moves it long before its readings become outliers. The duration requirement keeps
 * noise from opening an incident; once one is open, every reading over the threshold counts into it.
 * The score itself is computed in the per-metric loop of DetectEngine.observe (engine.ts).
 */
import { S } from '../compiled-rules.ts';
import { M } from '../state.ts';

/** How long (device ms) the score has been over the threshold, counting this reading; -1 if it is not. */
export function driftDuration(
  st: Float64Array,
  o: number,
  s: Float64Array,
  r: number,
  score: number,
  ts: number,
): number {
  const z = s[r + S.driftZ]!;
  if (score <= z && score >= -z) {
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

export function learnFast(st: Float64Array, o: number, s: Float64Array, r: number, x: number): void {
  const n = st[o + M.count]!;
  const beta = s[r + S.driftBeta]!;
  const b = n > 0 && 1 / n < beta ? beta : 1 / Math.max(1, n);
  st[o + M.fast] = st[o + M.fast]! + b * (x - st[o + M.fast]!);
}
