/**
 * An in-memory fleet for the detection bench: no broker, no stream. Every device produces one
 * reading per interval (with jitter) from the simulator's signal; the same reading feeds a clean
 * engine, then goes through the device's anomaly injector and feeds a second engine. Both engines
 * tick once per interval of simulated time, so silence is found on the clock as in production.
 */

import { DetectEngine } from '../../functions/detect/engine.ts';
import type { DeviceProfiles } from '../../functions/detect/profiles.ts';
import type { Alert } from '../../functions/lib/codec/alert-codec.ts';
import { AnomalyInjector, type AnomalyOptions } from '../../simulators/anomalies.ts';
import type { AnomalyLabel } from '../../simulators/ground-truth.ts';
import { Random } from '../../simulators/random.ts';
import { DeviceSignal } from '../../simulators/signals.ts';

export interface SimulationOptions {
  devices: number;
  days: number;
  seed: number;
  intervalMs: number;
  /** ± fraction of the interval each reading's time varies by. */
  jitter: number;
  /** Device time of the first interval (fixed, so runs repeat exactly). */
  startTs: number;
  anomalies: Partial<AnomalyOptions>;
  profiles: DeviceProfiles;
  onLabel: (label: AnomalyLabel) => void;
  /** Called every simulated hour with the fraction done. */
  onProgress?: (done: number) => void;
}

/** An alert that opened, as the scorer needs it. */
export interface OpenedAlert {
  deviceId: string;
  metric: string;
  rule: string;
  openedAt: number;
  score: number | null;
}

export interface RunAlerts {
  opened: OpenedAlert[];
  resolved: number;
}

export interface SimulationResult {
  clean: RunAlerts;
  anomalous: RunAlerts;
  readings: number;
  withheld: number;
}

export function simulate(options: SimulationOptions): SimulationResult {
  const { devices, intervalMs, jitter, startTs, profiles } = options;
  const steps = Math.round((options.days * 86_400_000) / intervalMs);
  const random = new Random(options.seed);
  const signals: DeviceSignal[] = [];
  const injectors: AnomalyInjector[] = [];
  const phases = new Float64Array(devices);
  for (let i = 0; i < devices; i++) {
    const id = `sim-${String(i).padStart(5, '0')}`;
    signals.push(new DeviceSignal(id, options.seed * 1_000_003 + i, startTs));
    const until = startTs + steps * intervalMs - intervalMs;
    injectors.push(
      new AnomalyInjector(id, i, { until, ...options.anomalies, seed: options.seed }, options.onLabel),
    );
    // Readings spread over the interval, so devices do not report in lockstep.
    phases[i] = random.next() * (1 - 2 * jitter) * intervalMs + jitter * intervalMs;
  }
  const cleanEngine = new DetectEngine(profiles);
  const anomalousEngine = new DetectEngine(profiles);
  const clean: RunAlerts = { opened: [], resolved: 0 };
  const anomalous: RunAlerts = { opened: [], resolved: 0 };
  const out: Alert[] = [];
  let readings = 0;
  let withheld = 0;
  const hour = Math.max(1, Math.round(3_600_000 / intervalMs));
  for (let step = 0; step < steps; step++) {
    const stepStart = startTs + step * intervalMs;
    collect(cleanEngine.tick(stepStart, out), clean);
    collect(anomalousEngine.tick(stepStart, out), anomalous);
    for (let i = 0; i < devices; i++) {
      const ts = Math.round(stepStart + phases[i]! + (2 * random.next() - 1) * jitter * intervalMs);
      const reading = signals[i]!.next(ts);
      readings++;
      collect(cleanEngine.observe(reading, out), clean);
      const altered = injectors[i]!.apply(reading);
      if (altered === null) withheld++;
      else collect(anomalousEngine.observe(altered, out), anomalous);
    }
    if (options.onProgress && step % hour === 0) options.onProgress(step / steps);
  }
  for (const injector of injectors) injector.finish();
  options.onProgress?.(1);
  return { clean, anomalous, readings, withheld };
}

/** Moves the events in `out` into `into` and empties `out` for reuse. */
function collect(out: Alert[], into: RunAlerts): void {
  for (const alert of out) {
    if (alert.status === 'open') {
      into.opened.push({
        deviceId: alert.deviceId,
        metric: alert.metric,
        rule: alert.rule,
        openedAt: alert.openedAt,
        score: alert.score,
      });
    } else {
      into.resolved++;
    }
  }
  out.length = 0;
}
