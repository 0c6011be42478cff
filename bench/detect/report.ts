/** The detection bench's report: the targets from issue 4, a table for people, JSON for the record. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { KindScore, Score } from './score.ts';
import type { MemoryResult, ThroughputResult } from './throughput.ts';

export const TARGETS = Object.freeze({ recall: 0.95, precision: 0.9, cleanFalsePerDeviceDay: 1 });

export interface DetectBenchReport {
  command: string;
  date: string;
  machine: { cpuModel: string; node: string; platform: string };
  options: Record<string, unknown>;
  run: {
    devices: number;
    days: number;
    readings: number;
    withheld: number;
    labels: number;
    groundTruth: string;
    seconds: number;
  };
  quality: Score;
  clean: { alerts: number; deviceDays: number; falsePerDeviceDay: number; byRule: Record<string, number> };
  throughput: ThroughputResult;
  memory: MemoryResult;
  targets: { met: boolean; failures: string[] };
}

export function checkTargets(
  quality: Score,
  cleanFalsePerDeviceDay: number,
): { met: boolean; failures: string[] } {
  const failures: string[] = [];
  for (const k of quality.kinds) {
    if (!(k.recall >= TARGETS.recall))
      failures.push(`${k.kind}: recall ${fmt(k.recall)} < ${TARGETS.recall}`);
    if (!(k.precision >= TARGETS.precision))
      failures.push(`${k.kind}: precision ${fmt(k.precision)} < ${TARGETS.precision}`);
  }
  if (!(cleanFalsePerDeviceDay < TARGETS.cleanFalsePerDeviceDay)) {
    failures.push(
      `clean data: ${fmt(cleanFalsePerDeviceDay)} false alerts per device-day (target < ${TARGETS.cleanFalsePerDeviceDay})`,
    );
  }
  return { met: failures.length === 0, failures };
}

export function formatReport(r: DetectBenchReport): string {
  const quality = new Table({
    head: [
      'kind',
      'labels',
      'detected',
      'recall',
      'alerts (true/false)',
      'precision',
      'median TTD',
      'p90 TTD',
    ],
    style: { head: [], border: [] },
  });
  for (const k of r.quality.kinds) quality.push(row(k));
  const lines = [
    `detection quality: ${r.run.devices} devices x ${r.run.days} day(s), ${r.run.readings.toLocaleString('en')} readings (${r.run.withheld.toLocaleString('en')} withheld by dropouts), ${r.run.labels} labelled anomalies`,
    quality.toString(),
    `false alerts on anomalous data by rule: ${JSON.stringify(r.quality.falseByRule)}`,
    `clean data: ${r.clean.alerts} alerts over ${r.clean.deviceDays} device-days = ${fmt(r.clean.falsePerDeviceDay)} false alerts per device-day ${JSON.stringify(r.clean.byRule)}`,
    `throughput (engine only, one core): ${Math.round(r.throughput.readingsPerSecond).toLocaleString('en')} readings/s = ${Math.round(r.throughput.metricValuesPerSecond).toLocaleString('en')} metric values/s (${Math.round(r.throughput.nsPerReading)} ns/reading; ${r.throughput.devices} devices, ${r.throughput.readings.toLocaleString('en')} readings)`,
    `memory: ${fmt(r.memory.measuredBytesPerDeviceMetric)} bytes per device-metric measured (heap + array buffers, ${r.memory.devices.toLocaleString('en')} devices), ${fmt(r.memory.typedArrayBytesPerDeviceMetric)} in typed arrays at capacity, snapshot ${fmt(r.memory.snapshotBytesPerDeviceMetric)}`,
    r.targets.met
      ? `targets met: recall >= ${TARGETS.recall} and precision >= ${TARGETS.precision} per kind, < ${TARGETS.cleanFalsePerDeviceDay} false alert per device-day on clean data`
      : `TARGETS MISSED:\n  ${r.targets.failures.join('\n  ')}`,
  ];
  return lines.join('\n');
}

function row(k: KindScore): string[] {
  return [
    k.kind,
    String(k.labels),
    String(k.detected),
    fmt(k.recall),
    `${k.truePositives}/${k.falsePositives}`,
    fmt(k.precision),
    duration(k.medianTtdMs),
    duration(k.p90TtdMs),
  ];
}

export function writeReport(r: DetectBenchReport, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `detect-${r.date.slice(0, 10)}.json`);
  writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
  return path;
}

function fmt(value: number): string {
  return Number.isNaN(value) ? 'n/a' : String(Number(value.toFixed(value >= 100 ? 0 : 3)));
}

function duration(ms: number | null): string {
  if (ms === null) return 'n/a';
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
