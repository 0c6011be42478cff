/**
 * Ground truth for detection quality: one label per injected anomaly (which device and metric,
 * what kind, and the device-time window it covers), written as JSON lines so a run can be scored
 * again later or by another tool.
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { METRICS, type Metric } from '../functions/lib/reading.ts';

export const ANOMALY_KINDS = ['spike', 'dip', 'drift', 'stuck', 'dropout'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

/** The metric of a label that concerns the whole device (dropout). */
export const ALL_METRICS = '*';

export interface AnomalyLabel {
  deviceId: string;
  metric: Metric | typeof ALL_METRICS;
  kind: AnomalyKind;
  /** Device time of the first affected reading (dropout: of the first reading that was not sent), ms. */
  start: number;
  /** Device time of the last affected reading, ms. */
  end: number;
  /** Size of the anomaly in standard deviations of the metric's noise (spike, dip, drift); 0 otherwise. */
  magnitude: number;
}

/** Appends labels to a JSON-lines file; waits for the disk when the stream's buffer is full. */
export class GroundTruthWriter {
  readonly path: string;
  readonly #out: WriteStream;
  #written = 0;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.#out = createWriteStream(path, { flags: 'w' });
  }

  get written(): number {
    return this.#written;
  }

  async write(label: AnomalyLabel): Promise<void> {
    this.#written++;
    if (!this.#out.write(`${JSON.stringify(label)}\n`)) await once(this.#out, 'drain');
  }

  async close(): Promise<void> {
    this.#out.end();
    await once(this.#out, 'close');
  }
}

/** Labels from a JSON-lines file; throws naming the line when one is not a label. */
export function readGroundTruth(path: string): AnomalyLabel[] {
  const labels: AnomalyLabel[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const label = JSON.parse(line) as AnomalyLabel;
    if (!isLabel(label)) throw new Error(`${path}:${i + 1}: not an anomaly label: ${line.slice(0, 200)}`);
    labels.push(label);
  });
  return labels;
}

function isLabel(value: AnomalyLabel): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof value.deviceId === 'string' &&
    (value.metric === ALL_METRICS || (METRICS as readonly string[]).includes(value.metric)) &&
    (ANOMALY_KINDS as readonly string[]).includes(value.kind) &&
    Number.isFinite(value.start) &&
    Number.isFinite(value.end) &&
    value.end >= value.start &&
    typeof value.magnitude === 'number'
  );
}
