/**
 * Detector throughput and memory, in memory, on one core (this thread). Readings are generated a
 * step at a time outside the timed section; only engine.observe and engine.tick are timed, so the
 * number is the detectors' cost, not the simulator's.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { DetectEngine } from '../../functions/detect/engine.ts';
import type { DeviceProfiles } from '../../functions/detect/profiles.ts';
import { METRIC_COUNT } from '../../functions/detect/state.ts';
import type { Alert } from '../../functions/lib/codec/alert-codec.ts';
import type { Reading } from '../../functions/lib/reading.ts';
import { DeviceSignal } from '../../simulators/signals.ts';

export interface ThroughputResult {
  devices: number;
  readings: number;
  seconds: number;
  readingsPerSecond: number;
  metricValuesPerSecond: number;
  nsPerReading: number;
}

export function measureThroughput(
  profiles: DeviceProfiles,
  devices: number,
  steps: number,
  intervalMs: number,
): ThroughputResult {
  const signals = Array.from({ length: devices }, (_, i) => new DeviceSignal(`tp-${i}`, 7_919 + i, 0));
  const engine = new DetectEngine(profiles);
  const step: Reading[] = new Array(devices);
  const out: Alert[] = [];
  let ns = 0n;
  let readings = 0;
  for (let k = 0; k < steps; k++) {
    const base = k * intervalMs;
    for (let i = 0; i < devices; i++) step[i] = signals[i]!.next((base + (i * intervalMs) / devices) | 0);
    const started = process.hrtime.bigint();
    engine.tick(base, out);
    for (let i = 0; i < devices; i++) engine.observe(step[i]!, out);
    ns += process.hrtime.bigint() - started;
    readings += devices;
    out.length = 0;
  }
  const seconds = Number(ns) / 1e9;
  return {
    devices,
    readings,
    seconds,
    readingsPerSecond: readings / seconds,
    metricValuesPerSecond: (readings * METRIC_COUNT) / seconds,
    nsPerReading: Number(ns) / readings,
  };
}

export interface MemoryResult {
  devices: number;
  deviceMetrics: number;
  /** Heap and array-buffer growth after garbage collection, per device-metric. */
  measuredBytesPerDeviceMetric: number;
  /** Typed-array state per device-metric at the engine's current capacity (ids and index excluded). */
  typedArrayBytesPerDeviceMetric: number;
  snapshotBytesPerDeviceMetric: number;
}

export function measureMemory(profiles: DeviceProfiles, devices: number): MemoryResult {
  const gc = exposeGc();
  gc();
  const before = usage();
  const engine = new DetectEngine(profiles);
  feed(engine, devices);
  gc();
  const grown = usage() - before;
  const deviceMetrics = devices * METRIC_COUNT;
  return {
    devices,
    deviceMetrics,
    measuredBytesPerDeviceMetric: grown / deviceMetrics,
    typedArrayBytesPerDeviceMetric: engine.typedBytesPerDeviceMetric(),
    snapshotBytesPerDeviceMetric: engine.snapshot().byteLength / deviceMetrics,
  };
}

/** Two readings for each of `devices` new devices; the signals are garbage afterwards, the ids are the engine's. */
function feed(engine: DetectEngine, devices: number): void {
  for (let i = 0; i < devices; i++) {
    const signal = new DeviceSignal(`mem-device-${String(i).padStart(7, '0')}`, i, 0);
    engine.observe(signal.next(0));
    engine.observe(signal.next(1_000));
  }
}

function usage(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The V8 gc() function, exposed at run time so the bench needs no node flag. */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
