import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AnomalyLabel, GroundTruthWriter, readGroundTruth } from '../../simulators/ground-truth.ts';

const LABELS: AnomalyLabel[] = [
  { deviceId: 'sim-00001', metric: 'temperature', kind: 'spike', start: 1_000, end: 3_000, magnitude: 9.5 },
  { deviceId: 'sim-00002', metric: '*', kind: 'dropout', start: 5_000, end: 65_000, magnitude: 0 },
];

describe('ground truth', () => {
  it('writes labels as JSON lines and reads them back', async () => {
    // Prepare
    const path = join(mkdtempSync(join(tmpdir(), 'truth-')), 'nested', 'labels.jsonl');
    const writer = new GroundTruthWriter(path);

    // Act
    for (const label of LABELS) await writer.write(label);
    await writer.close();

    // Assess
    expect(writer.written).toBe(2);
    expect(readGroundTruth(path)).toEqual(LABELS);
  });

  it('names the line that is not a label', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'truth-')), 'bad.jsonl');
    writeFileSync(path, `${JSON.stringify(LABELS[0])}\n{"deviceId":"x","kind":"meteor"}\n`);
    expect(() => readGroundTruth(path)).toThrow(/bad\.jsonl:2: not an anomaly label/);
  });
});
