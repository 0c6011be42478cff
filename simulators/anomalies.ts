/**
 * Labelled anomalies for a device's readings, to measure detection against (bench/detect.ts).
 * An injector sits after a DeviceSignal: it passes readings through, now and then alters one metric
 * for a while (spike, dip, drift, stuck) or withholds the whole reading (dropout), and reports each
 * anomaly it actually injected as a ground-truth label once it is over. Deterministic from the seed
 * and the device's index; independent of the signal's own random stream, so a clean run and an
 * anomalous run of the same fleet see the same underlying signal.
 *
 * Shapes (sizes in standard deviations of the metric's noise, signals.ts METRIC_PROFILES):
 * - spike / dip: the value jumps up / down by 8-16 sd for 0-20 s (at least one reading);
 * - drift: an offset that grows linearly to 10-20 sd over 10-30 min (a sensor going out of
 *   calibration), then is gone (recalibrated);
 * - stuck: the value repeats the last reading's exactly for 5-30 min;
 * - dropout: nothing is sent for 1-10 min.
 * A spike smaller than about 6 sd is statistically indistinguishable from noise at any useful false
 * alarm rate, and a drift much slower than the baseline's memory is a new normal: the sizes are
 * chosen to be anomalies a person looking at the chart would call anomalies, not to be easy.
 */
import { METRICS, type Metric, type Reading } from '../functions/lib/reading.ts';
import { ALL_METRICS, ANOMALY_KINDS, type AnomalyKind, type AnomalyLabel } from './ground-truth.ts';
import { Random } from './random.ts';
import { METRIC_PROFILES } from './signals.ts';

export interface AnomalyOptions {
  seed: number;
  /** Mean anomalies per device per day of device time. */
  perDeviceDay: number;
  kinds: readonly AnomalyKind[];
  /** Metrics that spike, dip, drift or get stuck. */
  metrics: readonly Metric[];
  /** No anomaly in a device's first stretch of readings (detectors warm up on normal data). */
  startAfterMs: number;
  /** Normal time between the end of one anomaly and the start of the next on a device. */
  minGapMs: number;
  /** Device time by which every anomaly must be over (the end of the run), so none is cut short. */
  until: number;
  /** Sizes and durations per kind; default ANOMALY_SHAPES. */
  shapes: Readonly<Record<AnomalyKind, Shape>>;
}

export interface Shape {
  /** Planned duration range, ms. */
  durationMs: readonly [number, number];
  /** Size range in noise standard deviations (0 when the kind has none). */
  magnitude: readonly [number, number];
}

const MINUTE = 60_000;
export const ANOMALY_SHAPES: Readonly<Record<AnomalyKind, Shape>> = Object.freeze({
  spike: { durationMs: [0, 20_000], magnitude: [8, 16] },
  dip: { durationMs: [0, 20_000], magnitude: [8, 16] },
  drift: { durationMs: [10 * MINUTE, 30 * MINUTE], magnitude: [10, 20] },
  stuck: { durationMs: [5 * MINUTE, 30 * MINUTE], magnitude: [0, 0] },
  dropout: { durationMs: [1 * MINUTE, 10 * MINUTE], magnitude: [0, 0] },
});

export const DEFAULT_ANOMALY_OPTIONS: Readonly<AnomalyOptions> = Object.freeze({
  seed: 1,
  perDeviceDay: 10,
  kinds: ANOMALY_KINDS,
  metrics: METRICS,
  startAfterMs: 3_600_000,
  minGapMs: 30 * 60_000,
  until: Number.POSITIVE_INFINITY,
  shapes: ANOMALY_SHAPES,
});

const DAY_MS = 86_400_000;

interface Active {
  kind: AnomalyKind;
  /** Index into METRICS; -1 for the whole device. */
  metric: number;
  startedAt: number;
  plannedEnd: number;
  /** Signed size in the metric's units (spike, dip: the jump; drift: the final offset; stuck: the held value). */
  amount: number;
  magnitude: number;
  firstAffected: number;
  lastAffected: number;
}

/** One device's anomalies. `apply` each reading in order; `finish` at the end of the run. */
export class AnomalyInjector {
  readonly deviceId: string;
  readonly #options: AnomalyOptions;
  readonly #random: Random;
  readonly #onLabel: (label: AnomalyLabel) => void;
  readonly #last = new Float64Array(METRICS.length).fill(Number.NaN);
  #nextStart = Number.NaN;
  #active: Active | undefined;

  constructor(
    deviceId: string,
    deviceIndex: number,
    options: Partial<AnomalyOptions>,
    onLabel: (label: AnomalyLabel) => void,
  ) {
    this.deviceId = deviceId;
    this.#options = { ...DEFAULT_ANOMALY_OPTIONS, ...options };
    if (!(this.#options.perDeviceDay > 0)) throw new RangeError('perDeviceDay must be > 0');
    this.#random = new Random((this.#options.seed * 0x9e3779b1) ^ (deviceIndex * 0x85ebca6b) ^ 0x5bd1e995);
    this.#onLabel = onLabel;
  }

  /** The reading, possibly altered in place, or null when the anomaly withholds it (dropout). */
  apply(reading: Reading): Reading | null {
    const ts = reading.ts;
    if (Number.isNaN(this.#nextStart)) this.#nextStart = ts + this.#options.startAfterMs + this.#gap();
    let active = this.#active;
    if (active !== undefined && ts >= active.plannedEnd && active.lastAffected >= 0) {
      this.#end(active, ts);
      active = undefined;
    }
    if (active === undefined && ts >= this.#nextStart) active = this.#start(reading);
    let out: Reading | null = reading;
    if (active !== undefined) {
      out = this.#alter(active, reading);
      if (active.firstAffected < 0) active.firstAffected = ts;
      active.lastAffected = ts;
    }
    if (out !== null) this.#remember(out);
    return out;
  }

  /** Labels the anomaly in progress, if any (the run ends while it lasts). */
  finish(): void {
    if (this.#active !== undefined && this.#active.lastAffected >= 0) this.#end(this.#active, Number.NaN);
  }

  #start(reading: Reading): Active | undefined {
    const kinds = this.#options.kinds;
    const kind = kinds[Math.floor(this.#random.next() * kinds.length)]!;
    const shape = this.#options.shapes[kind];
    const duration = this.#random.between(shape.durationMs[0], shape.durationMs[1]);
    const magnitude = this.#random.between(shape.magnitude[0], shape.magnitude[1]);
    const metric = kind === 'dropout' ? -1 : this.#pickMetric(kind, reading, magnitude);
    const drawnUp = this.#random.next() < 0.5;
    if (reading.ts + duration > this.#options.until) {
      this.#nextStart = Number.POSITIVE_INFINITY;
      return undefined;
    }
    if (metric === undefined) {
      // No metric has room for this anomaly right now (a dip on a value near its floor): try later.
      this.#nextStart = reading.ts + this.#gap();
      return undefined;
    }
    let amount = 0;
    if (metric >= 0) {
      const name = METRICS[metric]!;
      const sd = METRIC_PROFILES[name].noise;
      const value = reading[name]!;
      if (kind === 'spike') amount = magnitude * sd;
      else if (kind === 'dip') amount = -magnitude * sd;
      else if (kind === 'drift')
        amount =
          (fits(name, value, magnitude * sd) && (drawnUp || !fits(name, value, -magnitude * sd)) ? 1 : -1) *
          magnitude *
          sd;
      else amount = this.#last[metric]!;
    }
    const active: Active = {
      kind,
      metric,
      startedAt: reading.ts,
      plannedEnd: reading.ts + duration,
      amount,
      magnitude: kind === 'stuck' || kind === 'dropout' ? 0 : magnitude,
      firstAffected: -1,
      lastAffected: -1,
    };
    this.#active = active;
    return active;
  }

  /** A metric this anomaly can be injected into (present, with room in its physical range). */
  #pickMetric(kind: AnomalyKind, reading: Reading, magnitude: number): number | undefined {
    const metrics = this.#options.metrics;
    const first = Math.floor(this.#random.next() * metrics.length);
    for (let i = 0; i < metrics.length; i++) {
      const name = metrics[(first + i) % metrics.length]!;
      const index = METRICS.indexOf(name);
      const value = reading[name];
      if (value === null) continue;
      const size = magnitude * METRIC_PROFILES[name].noise;
      if (kind === 'spike' && !fits(name, value, size)) continue;
      if (kind === 'dip' && !fits(name, value, -size)) continue;
      if (kind === 'drift' && !fits(name, value, size) && !fits(name, value, -size)) continue;
      if (kind === 'stuck' && Number.isNaN(this.#last[index]!)) continue;
      return index;
    }
    return undefined;
  }

  #alter(active: Active, reading: Reading): Reading | null {
    if (active.kind === 'dropout') return null;
    const name = METRICS[active.metric]!;
    const value = reading[name];
    if (value === null) return reading;
    let next: number;
    if (active.kind === 'stuck') next = active.amount;
    else if (active.kind === 'drift')
      next =
        value + (active.amount * (reading.ts - active.startedAt)) / (active.plannedEnd - active.startedAt);
    else next = value + active.amount;
    const p = METRIC_PROFILES[name];
    reading[name] = Math.round(Math.min(p.max, Math.max(p.min, next)) * 100) / 100;
    return reading;
  }

  #end(active: Active, now: number): void {
    this.#active = undefined;
    this.#nextStart = (Number.isNaN(now) ? active.lastAffected : now) + this.#gap();
    this.#onLabel({
      deviceId: this.deviceId,
      metric: active.metric < 0 ? ALL_METRICS : METRICS[active.metric]!,
      kind: active.kind,
      start: active.firstAffected,
      end: active.lastAffected,
      magnitude: Math.round(active.magnitude * 100) / 100,
    });
  }

  #remember(reading: Reading): void {
    for (let m = 0; m < METRICS.length; m++) {
      const value = reading[METRICS[m]!];
      if (value !== null) this.#last[m] = value;
    }
  }

  /** Normal time before the next anomaly: at least minGapMs, exponential beyond it. */
  #gap(): number {
    const { minGapMs, perDeviceDay } = this.#options;
    const mean = Math.max(MINUTE, DAY_MS / perDeviceDay - minGapMs);
    return minGapMs - mean * Math.log(1 - this.#random.next());
  }
}

/** Whether `value + delta` (plus one sd of room for noise) stays inside the metric's physical range. */
function fits(metric: Metric, value: number, delta: number): boolean {
  const p = METRIC_PROFILES[metric];
  const target = value + delta + Math.sign(delta) * p.noise;
  return target <= p.max && target >= p.min;
}
