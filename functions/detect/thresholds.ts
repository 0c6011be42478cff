import type { Alert } from '../lib/codec/alert-codec.ts';
import { METRICS, type Metric, type Reading } from '../lib/reading.ts';

export interface ThresholdRule {
  low?: number;
  high?: number;
  severity: Alert['severity'];
}

/** Defaults for the simulator's sensors; a device profile file overrides them (issue 4). */
export const DEFAULT_THRESHOLDS: Readonly<Partial<Record<Metric, ThresholdRule>>> = Object.freeze({
  temperature: { low: -40, high: 85, severity: 'critical' },
  humidity: { low: 0, high: 100, severity: 'warning' },
  pressure: { low: 870, high: 1085, severity: 'warning' },
  vibration: { high: 25, severity: 'critical' },
  battery: { low: 10, severity: 'warning' },
});

interface OpenIncident {
  alert: Alert;
}

/**
 * Static thresholds with an incident lifecycle: the first reading out of range opens an incident
 * (one alert), further ones are counted into it, and the first reading back in range resolves it.
 * State is per device, metric and rule; it lives in memory here (durable state comes with issue 4).
 */
export class ThresholdDetector {
  readonly #rules: Readonly<Partial<Record<Metric, ThresholdRule>>>;
  readonly #open = new Map<string, OpenIncident>();

  constructor(rules: Readonly<Partial<Record<Metric, ThresholdRule>>> = DEFAULT_THRESHOLDS) {
    this.#rules = rules;
  }

  get openIncidents(): number {
    return this.#open.size;
  }

  /** Feeds one reading; returns the alert events (open or resolved) it caused, usually none. */
  observe(reading: Reading, out: Alert[] = []): Alert[] {
    for (const metric of METRICS) {
      const rule = this.#rules[metric];
      const value = reading[metric];
      if (!rule || value === null) continue;
      const breach =
        rule.high !== undefined && value > rule.high
          ? 'threshold-high'
          : rule.low !== undefined && value < rule.low
            ? 'threshold-low'
            : undefined;
      for (const name of ['threshold-high', 'threshold-low'] as const) {
        const dedupKey = `${reading.deviceId}/${metric}/${name}`;
        const open = this.#open.get(dedupKey);
        if (name === breach) {
          if (open) {
            open.alert.repeats++;
            continue;
          }
          const limit = name === 'threshold-high' ? rule.high! : rule.low!;
          const alert: Alert = {
            id: `${dedupKey}/${reading.ts}`,
            dedupKey,
            deviceId: reading.deviceId,
            metric,
            rule: name,
            status: 'open',
            severity: rule.severity,
            value,
            score: value - limit,
            ts: reading.ts,
            openedAt: reading.ts,
            repeats: 0,
            message: `${metric} ${value} is ${name === 'threshold-high' ? 'above' : 'below'} ${limit}`,
          };
          this.#open.set(dedupKey, { alert });
          out.push({ ...alert });
        } else if (open) {
          this.#open.delete(dedupKey);
          out.push({
            ...open.alert,
            status: 'resolved',
            value,
            ts: reading.ts,
            message: `${metric} back to ${value}`,
          });
        }
      }
    }
    return out;
  }
}
