import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DetectorCheckpoint,
  type DetectorStateStore,
  FileDetectorStateStore,
  MemoryDetectorStateStore,
} from '../../../functions/detect/state-store.ts';
import type { Alert } from '../../../functions/lib/codec/alert-codec.ts';
import { anEngine, cleanSeries, run, withAnomaly } from './factories.ts';

function aCheckpoint(): DetectorCheckpoint {
  const engine = anEngine();
  const alerts: Alert[] = run(
    engine,
    withAnomaly(cleanSeries({ count: 410 }), 400, 410, (r) => ({ ...r, temperature: 90 })),
  );
  return {
    position: '49590338271490256608559692538361571095921575989136588898',
    engine: engine.snapshot(),
    pending: alerts,
  };
}

const STORES: [string, () => DetectorStateStore][] = [
  ['memory', () => new MemoryDetectorStateStore()],
  ['file', () => new FileDetectorStateStore(mkdtempSync(join(tmpdir(), 'detect-store-')), 'detect')],
];

describe.each(STORES)('detector state store: %s', (_name, aStore) => {
  it('gives back what was saved, per partition', async () => {
    // Prepare
    const store = aStore();
    const checkpoint = aCheckpoint();

    // Act
    await store.save('telemetry.valid/shardId-000000000001', checkpoint);
    const loaded = await store.load('telemetry.valid/shardId-000000000001');
    const other = await store.load('telemetry.valid/shardId-000000000002');

    // Assess
    expect(loaded!.position).toBe(checkpoint.position);
    expect(Buffer.from(loaded!.engine).equals(Buffer.from(checkpoint.engine))).toBe(true);
    expect(loaded!.pending).toEqual(checkpoint.pending);
    expect(other).toBeUndefined();
  });

  it('keeps only the latest save', async () => {
    const store = aStore();
    await store.save('p', aCheckpoint());
    await store.save('p', { ...aCheckpoint(), position: '7', pending: [] });
    expect(await store.load('p')).toMatchObject({ position: '7', pending: [] });
  });
});

describe('FileDetectorStateStore', () => {
  it('replaces the file atomically, leaving no temporary file behind', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'detect-store-'));
    const store = new FileDetectorStateStore(dir, 'detect');

    // Act
    for (let i = 0; i < 3; i++)
      await store.save('telemetry.valid-0', { ...aCheckpoint(), position: String(i) });

    // Assess
    expect(readdirSync(join(dir, 'detect'))).toEqual(['telemetry.valid-0.state']);
  });

  it('names the file when it is not a state file', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'detect-store-'));
    const store = new FileDetectorStateStore(dir, 'detect');
    await store.save('p', aCheckpoint());
    writeFileSync(store.fileFor('p'), 'garbage');

    // Act / Assess
    await expect(store.load('p')).rejects.toThrow(/p\.state is not a detector state file/);
  });
});
