/**
 * A profile's per-metric numeric settings, flattened into one Float64Array (RULE_STRIDE numbers per
 * metric, in METRICS order, at the offsets S names) that the per-metric loop
 * (detectors/metric-loop.ts) reads by offset, as it reads its state. The settings objects stay the
 * source of truth (alert text, severities); this is derived from them once per profile when the
 * engine is built.
 */
import { RULE_STRIDE, S } from './detectors/metric-loop.ts';
import type { DeviceProfile, MetricRules } from './profiles.ts';

type Setting = Exclude<keyof typeof S, 'stride'>;

/** Where each flattened setting comes from. Booleans are 1 or 0. */
const SETTINGS: { readonly [name in Setting]: (r: MetricRules) => number } = {
  thresholdHigh: (r) => r.threshold.high,
  thresholdLow: (r) => r.threshold.low,
  rateEnabled: (r) => Number(r.rate.enabled),
  rateMaxPerSecond: (r) => r.rate.maxPerSecond,
  rateMinDtMs: (r) => r.rate.minDtMs,
  flatlineEnabled: (r) => Number(r.flatline.enabled),
  flatlineTolerance: (r) => r.flatline.tolerance,
  flatlineDurationMs: (r) => r.flatline.durationMs,
  flatlineMaxGapMs: (r) => r.flatline.maxGapMs,
  warmup: (r) => r.baseline.warmup,
  minStdDev: (r) => r.baseline.minStdDev,
  alpha: (r) => r.baseline.alpha,
  relearnAfter: (r) => r.baseline.relearnAfter,
  spikeEnabled: (r) => Number(r.spike.enabled),
  spikeZ: (r) => r.spike.z,
  driftEnabled: (r) => Number(r.drift.enabled),
  driftBeta: (r) => r.drift.beta,
  driftZ: (r) => r.drift.z,
  driftScale: (r) => r.drift.scale,
  driftMinDurationMs: (r) => r.drift.minDurationMs,
};
const READERS = Object.entries(SETTINGS).map(([name, read]) => ({ offset: S[name as Setting], read }));

/** The profile's metric settings, RULE_STRIDE numbers per metric. */
export function compileRules(profile: DeviceProfile): Float64Array {
  const settings = new Float64Array(profile.metrics.length * RULE_STRIDE);
  for (const [m, rules] of profile.metrics.entries()) {
    for (const { offset, read } of READERS) settings[m * RULE_STRIDE + offset] = read(rules);
  }
  return settings;
}
