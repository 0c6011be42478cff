/** What an opening metric alert says: its severity and a message a person can act on. */
import type { OpenFields } from './incidents.ts';
import type { MetricRules } from './profiles.ts';
import { METRIC_RULES, RULE } from './rules.ts';

/** The fields of the `open` alert of metric rule `rule` (RULE) for reading value `x`. */
export function metricAlertFields(
  rule: number,
  rules: MetricRules,
  x: number,
  score: number,
  ts: number,
  deviceId: string,
): OpenFields {
  const metric = rules.metric;
  const fields = { deviceId, metric, rule: METRIC_RULES[rule]!, value: x, score, ts, openedAt: ts };
  switch (rule) {
    case RULE.thresholdHigh:
      return {
        ...fields,
        severity: rules.threshold.severity,
        message: `${metric} ${x} is above ${rules.threshold.high}`,
      };
    case RULE.thresholdLow:
      return {
        ...fields,
        severity: rules.threshold.severity,
        message: `${metric} ${x} is below ${rules.threshold.low}`,
      };
    case RULE.spike:
    case RULE.dip:
      return {
        ...fields,
        severity: rules.spike.severity,
        message: `${metric} ${x} is ${Math.abs(score).toFixed(1)} standard deviations ${score > 0 ? 'above' : 'below'} its baseline`,
      };
    case RULE.rate:
      return {
        ...fields,
        severity: rules.rate.severity,
        message: `${metric} changes by ${Math.round(score * 100) / 100}/s, beyond the ${rules.rate.maxPerSecond}/s limit`,
      };
    case RULE.drift:
      return {
        ...fields,
        severity: rules.drift.severity,
        message: `${metric} is drifting ${score > 0 ? 'up' : 'down'} from its baseline (score ${score.toFixed(1)})`,
      };
    default:
      return {
        ...fields,
        severity: rules.flatline.severity,
        message: `${metric} stuck at ${x} for ${seconds(score * 1000)}`,
      };
  }
}

/** A duration for messages: "12 s", "5 min". */
export function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
