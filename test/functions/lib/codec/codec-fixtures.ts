/** Record factories and byte helpers shared by the codec tests. */
import type { Alert } from '../../../../functions/lib/codec/alert-codec.ts';
import type { WriterSchema } from '../../../../functions/lib/codec/schema-registry.ts';
import { RejectedRecordError } from '../../../../functions/lib/errors.ts';
import type { Reading } from '../../../../functions/lib/reading.ts';

export { aReading } from '../../../support/readings.ts';

/** A reading whose metrics are exact in float32, so it survives a v1 (float) writer unchanged. */
export function aV1CompatibleReading(overrides: Partial<Reading> = {}): Reading {
  return {
    deviceId: 'dev-v1',
    ts: 1_718_000_000_123,
    seq: 41,
    temperature: 21.5,
    humidity: 40.25,
    pressure: 1013.5,
    vibration: null,
    battery: null,
    tags: null,
    ...overrides,
  };
}

/** The v1 shape of a reading: no battery or tags. */
export function aV1Value(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    deviceId: 'dev-v1',
    ts: 1_718_000_000_123,
    seq: 41,
    temperature: 21.5,
    humidity: null,
    pressure: 1013.5,
    vibration: 0.25,
    ...overrides,
  };
}

export function anAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'dev-1/temperature/threshold-high/1718000000123',
    dedupKey: 'dev-1/temperature/threshold-high',
    deviceId: 'dev-1',
    metric: 'temperature',
    rule: 'threshold-high',
    status: 'open',
    severity: 'critical',
    value: 81.5,
    score: 1.5,
    ts: 1_718_000_000_123,
    openedAt: 1_718_000_000_123,
    repeats: 0,
    message: 'temperature 81.5 is above 80',
    ...overrides,
  };
}

/** Single-object bytes written with any registered writer schema (the encoder only writes the current one). */
export function singleObjectWith(writer: WriterSchema, value: unknown): Buffer {
  return Buffer.concat([writer.singleObjectHeader, writer.writerType.toBuffer(value)]);
}

/** The error `act` throws, failing the test if it returns. */
export function thrownBy(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but it returned');
}

export function rejectionOf(act: () => unknown): RejectedRecordError {
  const error = thrownBy(act);
  if (!(error instanceof RejectedRecordError))
    throw new Error(`expected a RejectedRecordError, got ${String(error)}`, { cause: error });
  return error;
}

/** A small seeded PRNG (mulberry32) so property-style loops are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(random: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}
