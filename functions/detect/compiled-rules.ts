/**
 * A profile's per-metric numeric settings, flattened into one Float64Array (RULE_STRIDE numbers per
 * metric, in METRICS order) that the per-metric loop of DetectEngine.observe reads by offset, as it
 * reads its state. The settings objects stay the source of truth (alert text, severities); this is
 * derived from them once per profile when the engine is built.
 */
import type { DeviceProfile, MetricRules } from './profiles.ts';

/** Each flattened setting, in offset order, and where it comes from. Booleans are 1 or 0. */
const SETTINGS = {
  thresholdHigh: (r: MetricRules) => r.threshold.high,
  thresholdLow: (r: MetricRules) => r.threshold.low,
  rateEnabled: (r: MetricRules) => Number(r.rate.enabled),
  rateMaxPerSecond: (r: MetricRules) => r.rate.maxPerSecond,
  rateMinDtMs: (r: MetricRules) => r.rate.minDtMs,
  flatlineEnabled: (r: MetricRules) => Number(r.flatline.enabled),
  flatlineTolerance: (r: MetricRules) => r.flatline.tolerance,
  flatlineDurationMs: (r: MetricRules) => r.flatline.durationMs,
  flatlineMaxGapMs: (r: MetricRules) => r.flatline.maxGapMs,
  warmup: (r: MetricRules) => r.baseline.warmup,
  minStdDev: (r: MetricRules) => r.baseline.minStdDev,
  alpha: (r: MetricRules) => r.baseline.alpha,
  relearnAfter: (r: MetricRules) => r.baseline.relearnAfter,
  spikeEnabled: (r: MetricRules) => Number(r.spike.enabled),
  spikeZ: (r: MetricRules) => r.spike.z,
  driftEnabled: (r: MetricRules) => Number(r.drift.enabled),
  driftBeta: (r: MetricRules) => r.drift.beta,
  driftZ: (r: MetricRules) => r.drift.z,
  driftScale: (r: MetricRules) => r.drift.scale,
  driftMinDurationMs: (r: MetricRules) => r.drift.minDurationMs,
} as const;
const READERS = Object.values(SETTINGS);

/** Offsets within one metric's settings, in the order of SETTINGS. */
export const S = Object.freeze(
  Object.fromEntries(Object.keys(SETTINGS).map((name, offset) => [name, offset])) as Record<
    keyof typeof SETTINGS,
    number
  >,
);
export const RULE_STRIDE = READERS.length;

/** The profile's metric settings, RULE_STRIDE numbers per metric. */
export function compileRules(profile: DeviceProfile): Float64Array {
  const settings = new Float64Array(profile.metrics.length * RULE_STRIDE);
  for (const [m, rules] of profile.metrics.entries()) {
    for (const [offset, read] of READERS.entries()) settings[m * RULE_STRIDE + offset] = read(rules);
  }
  return settings;
}
