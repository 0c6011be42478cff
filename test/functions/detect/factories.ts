/** Factories for the detect tests: profiles, readings of a known shape, and a clock-driven feed. */

import { DetectEngine } from '../../../functions/detect/engine.ts';
import { type DeviceProfiles, parseDeviceProfiles } from '../../../functions/detect/profiles.ts';
import type { Alert } from '../../../functions/lib/codec/alert-codec.ts';
import type { Metric, Reading } from '../../../functions/lib/reading.ts';
import { Random } from '../../../simulators/random.ts';

export const T0 = Date.UTC(2026, 0, 1);
export const SECOND = 1_000;

/** Settings used throughout: one reading a second, silence after 10 s, quiet after 30 s. */
export const TEST_PROFILE_DOCUMENT = {
  defaults: {
    expectedIntervalMs: 1_000,
    quietMs: 30_000,
    evictAfterMs: 600_000,
    silence: { graceFactor: 10 },
    metrics: {
      '*': { baseline: { minStdDev: 0.01 } },
      temperature: { threshold: { low: -40, high: 85, severity: 'critical' }, rate: { maxPerSecond: 3 } },
      battery: { threshold: { low: 10 } },
    },
  },
};

export function testProfiles(document: unknown = TEST_PROFILE_DOCUMENT): DeviceProfiles {
  return parseDeviceProfiles(document, 'test profiles');
}

export function anEngine(profiles: DeviceProfiles = testProfiles()): DetectEngine {
  return new DetectEngine(profiles);
}

export const BASE: Readonly<Record<Metric, number>> = {
  temperature: 22,
  humidity: 45,
  pressure: 1013,
  vibration: 3,
  battery: 80,
};
export const NOISE: Readonly<Record<Metric, number>> = {
  temperature: 0.3,
  humidity: 1,
  pressure: 0.4,
  vibration: 0.4,
  battery: 0.05,
};

export interface SeriesOptions {
  deviceId?: string;
  count?: number;
  start?: number;
  intervalMs?: number;
  seed?: number;
}

/** `count` readings a second apart: every metric its BASE plus gaussian NOISE, rounded to 0.01. */
export function cleanSeries(options: SeriesOptions = {}): Reading[] {
  const { deviceId = 'dev-1', count = 900, start = T0, intervalMs = SECOND, seed = 1 } = options;
  const random = new Random(seed);
  const value = (m: Metric) => Math.round((BASE[m] + NOISE[m] * random.gaussian()) * 100) / 100;
  return Array.from({ length: count }, (_, i) => ({
    deviceId,
    ts: start + i * intervalMs,
    seq: i,
    temperature: value('temperature'),
    humidity: value('humidity'),
    pressure: value('pressure'),
    vibration: value('vibration'),
    battery: value('battery'),
    tags: null,
  }));
}

/** A copy of `series` with `change` applied to readings [from, to); a change returning null drops the reading. */
export function withAnomaly(
  series: readonly Reading[],
  from: number,
  to: number,
  change: (reading: Reading, index: number) => Reading | null,
): Reading[] {
  const out: Reading[] = [];
  series.forEach((reading, i) => {
    const copy = { ...reading };
    const changed = i >= from && i < to ? change(copy, i - from) : copy;
    if (changed !== null) out.push(changed);
  });
  return out;
}

export interface Feed {
  reading: Reading;
  gatewayId?: string;
}

/**
 * Feeds readings in time order and ticks the engine every `tickMs` of engine time in between, as
 * the detect function's clock would; ticks continue `tailMs` past the last reading. Returns every
 * alert event in order.
 */
export function run(
  engine: DetectEngine,
  feed: readonly (Reading | Feed)[],
  { tickMs = SECOND, tailMs = 0 } = {},
): Alert[] {
  const items = feed
    .map((f) => ('reading' in f ? f : { reading: f }))
    .sort((a, b) => a.reading.ts - b.reading.ts);
  const out: Alert[] = [];
  if (items.length === 0) return out;
  let nextTick = items[0]!.reading.ts;
  for (const { reading, gatewayId } of items) {
    while (nextTick <= reading.ts) {
      engine.tick(nextTick, out);
      nextTick += tickMs;
    }
    engine.observe(reading, out, reading.ts, gatewayId);
  }
  const end = items[items.length - 1]!.reading.ts + tailMs;
  while (nextTick <= end) {
    engine.tick(nextTick, out);
    nextTick += tickMs;
  }
  return out;
}

export function opened(alerts: readonly Alert[]): Alert[] {
  return alerts.filter((a) => a.status === 'open');
}

export function resolved(alerts: readonly Alert[]): Alert[] {
  return alerts.filter((a) => a.status === 'resolved');
}

/** A short, readable summary of alert events for failure messages and equality checks. */
export function summary(alerts: readonly Alert[]): string[] {
  return alerts.map((a) => `${a.status} ${a.dedupKey} @${a.openedAt - T0}`);
}
