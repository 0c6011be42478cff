/** Static limits: +1 above `high`, -1 below `low`, 0 inside. */
import type { MetricRules } from '../profiles.ts';

export function thresholdSide(rules: MetricRules['threshold'], x: number): -1 | 0 | 1 {
  return x > rules.high ? 1 : x < rules.low ? -1 : 0;
}

/** How far outside the limit `x` is (the alert's score). */
export function thresholdExcess(rules: MetricRules['threshold'], x: number): number {
  return x > rules.high ? x - rules.high : x < rules.low ? x - rules.low : 0;
}
