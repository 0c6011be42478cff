/**
 * A profile's per-metric numeric settings, flattened into one Float64Array (RULE_STRIDE numbers per
 * metric, in METRICS order) that DetectEngine's per-metric step reads by offset, as it reads its
 * state. The settings objects stay the source of truth (alert text, severities); this is derived
 * from them once per profile when the engine is built.
 */
import type { DeviceProfile, MetricRules } from './profiles.ts';

/** Offsets within one metric's settings. Booleans are 1 or 0. */
export const S = {
  thresholdHigh: 0,
  thresholdLow: 1,
  rateEnabled: 2,
  rateMaxPerSecond: 3,
  rateMinDtMs: 4,
  flatlineEnabled: 5,
  flatlineTolerance: 6,
  flatlineDurationMs: 7,
  flatlineMaxGapMs: 8,
  warmup: 9,
  minStdDev: 10,
  alpha: 11,
  relearnAfter: 12,
  spikeEnabled: 13,
  spikeZ: 14,
  driftEnabled: 15,
  driftBeta: 16,
  driftZ: 17,
  driftScale: 18,
  driftMinDurationMs: 19,
} as const;
export const RULE_STRIDE = 20;

function put(settings: Float64Array, r: number, rules: MetricRules): void {
  settings[r + S.thresholdHigh] = rules.threshold.high;
  settings[r + S.thresholdLow] = rules.threshold.low;
  settings[r + S.rateEnabled] = rules.rate.enabled ? 1 : 0;
  settings[r + S.rateMaxPerSecond] = rules.rate.maxPerSecond;
  settings[r + S.rateMinDtMs] = rules.rate.minDtMs;
  settings[r + S.flatlineEnabled] = rules.flatline.enabled ? 1 : 0;
  settings[r + S.flatlineTolerance] = rules.flatline.tolerance;
  settings[r + S.flatlineDurationMs] = rules.flatline.durationMs;
  settings[r + S.flatlineMaxGapMs] = rules.flatline.maxGapMs;
  settings[r + S.warmup] = rules.baseline.warmup;
  settings[r + S.minStdDev] = rules.baseline.minStdDev;
  settings[r + S.alpha] = rules.baseline.alpha;
  settings[r + S.relearnAfter] = rules.baseline.relearnAfter;
  settings[r + S.spikeEnabled] = rules.spike.enabled ? 1 : 0;
  settings[r + S.spikeZ] = rules.spike.z;
  settings[r + S.driftEnabled] = rules.drift.enabled ? 1 : 0;
  settings[r + S.driftBeta] = rules.drift.beta;
  settings[r + S.driftZ] = rules.drift.z;
  settings[r + S.driftScale] = rules.drift.scale;
  settings[r + S.driftMinDurationMs] = rules.drift.minDurationMs;
}

/** The profile's metric settings, RULE_STRIDE numbers per metric. */
export function compileRules(profile: DeviceProfile): Float64Array {
  const settings = new Float64Array(profile.metrics.length * RULE_STRIDE);
  for (const [m, rules] of profile.metrics.entries()) put(settings, m * RULE_STRIDE, rules);
  return settings;
}
