/**
 * The per-metric loop on hand-made state: the spike and drift thresholds sit exactly where their
 * formulas put them (both are compared squared in the loop, so a slip there moves the boundary),
 * and the scores an alert carries are those formulas' values.
 */
import { describe, expect, it } from 'vitest';
import {
  detectMetrics,
  M,
  METRIC_STRIDE,
  RULE_STRIDE,
  S,
} from '../../../../functions/detect/detectors/metric-loop.ts';
import { METRIC_RULE_COUNT, RULE } from '../../../../functions/detect/rules.ts';

const METRICS = 5;
type Settings = Partial<Record<Exclude<keyof typeof S, 'stride'>, number>>;
type State = Partial<Record<Exclude<keyof typeof M, 'stride'>, number>>;

/** Spike and drift on, everything else off; a warmed-up baseline at 10 with standard deviation 0.2. */
const SETTINGS: Settings = {
  thresholdHigh: Number.POSITIVE_INFINITY,
  thresholdLow: Number.NEGATIVE_INFINITY,
  warmup: 120,
  minStdDev: 0.001,
  alpha: 0.01,
  relearnAfter: 100,
  spikeEnabled: 1,
  spikeZ: 4,
  driftEnabled: 1,
  driftBeta: 0.1,
  driftZ: 3,
  driftScale: 0.5,
  driftMinDurationMs: 0,
};
const STATE: State = {
  count: 200,
  mean: 10,
  variance: 0.04,
  fast: 10,
  last: 10,
  lastTs: 1_000,
  driftSince: Number.NaN,
};

/** Runs one reading `x` of metric 0 at ts 2,000 through the loop; the other metrics have no value. */
function step(x: number, state: State = {}, settings: Settings = {}) {
  const s = new Float64Array(METRICS * RULE_STRIDE);
  for (const [name, value] of Object.entries({ ...SETTINGS, ...settings }))
    s[S[name as keyof Settings]] = value;
  const st = new Float64Array(METRICS * METRIC_STRIDE);
  for (const [name, value] of Object.entries({ ...STATE, ...state })) st[M[name as keyof State]] = value;
  const frame = new Float64Array(1 + METRICS).fill(Number.NaN);
  frame[0] = 2_000;
  frame[1] = x;
  const bits = new Uint8Array(METRICS);
  const scores = new Float64Array(METRICS * METRIC_RULE_COUNT);
  const attention = detectMetrics(frame, 0, s, st, new Uint8Array(METRICS), bits, scores);
  return {
    attention,
    broken: (rule: number) => (bits[0]! & (1 << rule)) !== 0,
    score: (rule: number) => scores[rule]!,
    state: (name: Exclude<keyof typeof M, 'stride'>) => st[M[name]]!,
  };
}

describe('spike and dip', () => {
  const sd = 0.2;
  const z = SETTINGS.spikeZ!;

  it('fire just over z standard deviations from the mean and not just under', () => {
    expect(step(10 + z * sd * 1.000001).broken(RULE.spike)).toBe(true);
    expect(step(10 + z * sd * 0.999999).broken(RULE.spike)).toBe(false);
    expect(step(10 - z * sd * 1.000001).broken(RULE.dip)).toBe(true);
    expect(step(10 - z * sd * 0.999999).broken(RULE.dip)).toBe(false);
  });

  it('score the z-score against the baseline before this reading', () => {
    const spike = step(11.5);
    expect(spike.score(RULE.spike)).toBeCloseTo(1.5 / sd, 12);
    expect(spike.attention).toBe(1);
    expect(step(9).score(RULE.dip)).toBeCloseTo(-1 / sd, 12);
  });

  it('measure against minStdDev when the baseline varies less', () => {
    const flat = step(10.05, { variance: 0 }, { minStdDev: 0.01 });
    expect(flat.broken(RULE.spike)).toBe(true);
    expect(flat.score(RULE.spike)).toBeCloseTo(5, 9);
    expect(step(10.03, { variance: 0 }, { minStdDev: 0.01 }).broken(RULE.spike)).toBe(false);
  });

  it('do not learn the outlier, and learn an ordinary reading', () => {
    const outlier = step(12);
    expect(outlier.state('mean')).toBe(10);
    expect(outlier.state('outlierRun')).toBe(1);
    const ordinary = step(10.1);
    expect(ordinary.state('mean')).toBeCloseTo(10 + 0.01 * 0.1, 12);
    expect(ordinary.state('variance')).toBeCloseTo(0.99 * (0.04 + 0.01 * 0.1 * 0.1), 12);
  });

  it('stay quiet in warm-up', () => {
    expect(step(20, { count: 119 }).broken(RULE.spike)).toBe(false);
  });
});

describe('drift', () => {
  // x = mean, so nothing is an outlier; learning it leaves the mean at 10, shrinks the variance by
  // (1 - alpha) and moves the fast average a tenth (beta) of the way back: fast - mean = 0.9 df.
  const variance = 0.99 * 0.04;
  const threshold = (SETTINGS.driftZ! * SETTINGS.driftScale! * Math.sqrt(variance)) / 0.9;
  const score = (df: number) => (0.9 * df) / (Math.sqrt(variance) * SETTINGS.driftScale!);

  it('fires when the fast average is just over z scaled standard deviations from the mean, and not just under', () => {
    expect(step(10, { fast: 10 + threshold * 1.000001 }).broken(RULE.drift)).toBe(true);
    expect(step(10, { fast: 10 + threshold * 0.999999 }).broken(RULE.drift)).toBe(false);
    expect(step(10, { fast: 10 - threshold * 1.000001 }).broken(RULE.drift)).toBe(true);
    expect(step(10, { fast: 10 - threshold * 0.999999 }).broken(RULE.drift)).toBe(false);
  });

  it('scores (fast - mean) / (standard deviation x scale), after learning the reading', () => {
    const up = step(10, { fast: 10.5 });
    expect(up.score(RULE.drift)).toBeCloseTo(score(0.5), 12);
    expect(step(10, { fast: 9.5 }).score(RULE.drift)).toBeCloseTo(score(-0.5), 12);
  });

  it('waits minDurationMs over the threshold before firing', () => {
    const first = step(10, { fast: 10.5 }, { driftMinDurationMs: 500 });
    expect(first.broken(RULE.drift)).toBe(false);
    expect(first.state('driftSince')).toBe(2_000);
    expect(step(10, { fast: 10.5, driftSince: 1_400 }, { driftMinDurationMs: 500 }).broken(RULE.drift)).toBe(
      true,
    );
    expect(step(10, { fast: 10.5, driftSince: 1_600 }, { driftMinDurationMs: 500 }).broken(RULE.drift)).toBe(
      false,
    );
  });
});

it('skips a metric without a value, state and all', () => {
  const s = new Float64Array(METRICS * RULE_STRIDE);
  const st = new Float64Array(METRICS * METRIC_STRIDE).fill(7);
  const frame = new Float64Array(1 + METRICS).fill(Number.NaN);
  frame[0] = 1;
  const openMask = new Uint8Array(METRICS).fill(1);
  expect(detectMetrics(frame, 0, s, st, openMask, new Uint8Array(METRICS), new Float64Array(35))).toBe(0);
  expect(st.every((v) => v === 7)).toBe(true);
});
