/** Rate of change between consecutive readings of a metric, per second of device time. */
import type { MetricRules } from '../profiles.ts';
import { M } from '../state.ts';

/** (x - last) / dt in units per second; 0 for the first reading. dt is floored at minDtMs. */
export function ratePerSecond(
  st: Float64Array,
  o: number,
  rules: MetricRules,
  x: number,
  ts: number,
): number {
  const lastTs = st[o + M.lastTs]!;
  if (Number.isNaN(lastTs)) return 0;
  const dt = ts - lastTs;
  return ((x - st[o + M.last]!) * 1000) / Math.max(dt, rules.rate.minDtMs);
}
