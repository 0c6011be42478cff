import type { Metric, Reading } from '../functions/lib/reading.ts';
import { Random } from './random.ts';

interface MetricProfile {
  base: number;
  /** Amplitude of the daily cycle. */
  daily: number;
  noise: number;
  /** Slow drift per day. */
  driftPerDay: number;
  min: number;
  max: number;
}

/** Plausible indoor/industrial sensor values, well inside the default alert thresholds. */
export const METRIC_PROFILES: Readonly<Record<Metric, MetricProfile>> = Object.freeze({
  temperature: { base: 22, daily: 3, noise: 0.3, driftPerDay: 0.2, min: -40, max: 85 },
  humidity: { base: 45, daily: 8, noise: 1, driftPerDay: 0.5, min: 0, max: 100 },
  pressure: { base: 1013, daily: 2, noise: 0.4, driftPerDay: 0.3, min: 870, max: 1085 },
  vibration: { base: 3, daily: 1, noise: 0.4, driftPerDay: 0.05, min: 0, max: 25 },
  battery: { base: 90, daily: 0, noise: 0.05, driftPerDay: -0.5, min: 10, max: 100 },
});

const DAY_MS = 86_400_000;

/** One simulated device: a deterministic signal per metric (daily cycle, noise, slow drift). */
export class DeviceSignal {
  readonly deviceId: string;
  #seq = 0;
  readonly #random: Random;
  readonly #phase: number;
  readonly #offsets: Record<Metric, number>;
  readonly #startedAt: number;

  constructor(deviceId: string, seed: number, startedAt: number) {
    this.deviceId = deviceId;
    this.#random = new Random(seed);
    this.#phase = this.#random.next() * 2 * Math.PI;
    this.#startedAt = startedAt;
    this.#offsets = {
      temperature: this.#random.gaussian() * 2,
      humidity: this.#random.gaussian() * 5,
      pressure: this.#random.gaussian() * 3,
      vibration: Math.abs(this.#random.gaussian()),
      battery: this.#random.between(-20, 10),
    };
  }

  get seq(): number {
    return this.#seq;
  }

  next(ts: number): Reading {
    const cycle = Math.sin((2 * Math.PI * (ts % DAY_MS)) / DAY_MS + this.#phase);
    const days = (ts - this.#startedAt) / DAY_MS;
    // In this order: the seeded generator draws one gaussian per metric.
    return {
      deviceId: this.deviceId,
      ts,
      seq: this.#seq++,
      temperature: this.#value('temperature', cycle, days),
      humidity: this.#value('humidity', cycle, days),
      pressure: this.#value('pressure', cycle, days),
      vibration: this.#value('vibration', cycle, days),
      battery: this.#value('battery', cycle, days),
      tags: null,
    };
  }

  // A method rather than a closure made in next(): tsx compiles with keepNames, which names every
  // closure as it is made (Object.defineProperty), and next() ran at 1.4 µs a reading.
  #value(metric: Metric, cycle: number, days: number): number {
    const p = METRIC_PROFILES[metric];
    const v =
      p.base +
      this.#offsets[metric] +
      p.daily * cycle +
      p.driftPerDay * days +
      p.noise * this.#random.gaussian();
    return Math.round(Math.min(p.max, Math.max(p.min, v)) * 100) / 100;
  }
}
