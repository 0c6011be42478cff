import { beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../functions/lib/codec/alert-codec.ts';
import { encodeReading } from '../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../functions/lib/codec/schema-registry.ts';
import { sourceRecords } from '../../../functions/lib/events/source-records.ts';
import { HEADER, type Reading } from '../../../functions/lib/reading.ts';
import { STREAMS } from '../../../functions/lib/streams/types.ts';
import { createFusedFunction, FusedPipeline, type ReadingDetector } from '../../../functions/runner/fused.ts';
import { kinesisEventOf, MemoryProducer, MemoryStore, rawRecord } from '../../fixtures/fakes.ts';
import { aReading } from '../../support/readings.ts';

/** Raises an alert for every reading above 80 °C. */
class HotDetector implements ReadingDetector {
  readonly seen: Reading[] = [];
  observe(reading: Reading, out: Alert[]): void {
    this.seen.push(reading);
    if ((reading.temperature ?? 0) > 80) {
      out.push({
        id: `${reading.deviceId}/t/${reading.ts}`,
        dedupKey: `${reading.deviceId}/t`,
        deviceId: reading.deviceId,
        metric: 'temperature',
        rule: 'threshold-high',
        status: 'open',
        severity: 'critical',
        value: reading.temperature,
        score: 1,
        ts: reading.ts,
        openedAt: reading.ts,
        repeats: 0,
        message: 'hot',
      });
    }
  }
}

describe('fused validate -> detect + write', () => {
  let registry: SchemaRegistry;
  beforeEach(() => {
    registry = SchemaRegistry.load();
  });

  it('validates, detects on the valid readings only, and keeps the bridge receive time', () => {
    // Prepare
    const detector = new HotDetector();
    const pipeline = new FusedPipeline(registry, detector);
    const records = sourceRecords(
      kinesisEventOf([
        rawRecord(
          'telemetry/dev-1',
          encodeReading(aReading({ deviceId: 'dev-1', temperature: 90 }), registry),
        ),
        rawRecord('telemetry/dev-1', 'junk'),
        rawRecord('telemetry/dev-2', JSON.stringify(aReading({ deviceId: 'dev-2', seq: 3 }))),
      ]),
    );

    // Act
    const result = pipeline.run(records);

    // Assess
    expect(result.readings.map((r) => r.deviceId)).toEqual(['dev-1', 'dev-2']);
    expect(result.readings[0]!.receivedAt).toBe(Number(records[0]!.headers[HEADER.receivedAt]));
    expect(detector.seen).toHaveLength(2);
    expect(result.alerts.map((a) => a.deviceId)).toEqual(['dev-1']);
    expect(result.deadLetters.map((d) => d.headers![HEADER.reason])).toEqual(['PAYLOAD_UNRECOGNISED']);
    expect(result.reasons).toEqual({ PAYLOAD_UNRECOGNISED: 1 });
  });

  it('writes the store, the dead letters and the alerts, and nothing to telemetry.valid', async () => {
    // Prepare
    const store = new MemoryStore();
    const producer = new MemoryProducer();
    const delivered: Alert[] = [];
    const fused = createFusedFunction({
      registry,
      detector: new HotDetector(),
      store,
      producer,
      deliverAlerts: async (alerts) => {
        delivered.push(...alerts);
      },
    });
    const records = sourceRecords(
      kinesisEventOf([
        rawRecord(
          'telemetry/dev-1',
          encodeReading(aReading({ deviceId: 'dev-1', temperature: 95 }), registry),
        ),
        rawRecord('telemetry/dev-9', JSON.stringify(aReading({ deviceId: 'dev-1', seq: 2 }))),
      ]),
    );

    // Act
    const response = await fused(records);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(store.rows.size).toBe(1);
    expect(producer.records(STREAMS.dlq).map((d) => d.headers![HEADER.reason])).toEqual(['DEVICE_MISMATCH']);
    expect(producer.records(STREAMS.alerts)).toHaveLength(1);
    expect(producer.records(STREAMS.valid)).toEqual([]);
    expect(delivered).toHaveLength(1);
  });

  it('fails the batch when the store cannot be written (the runner retries it)', async () => {
    const store = new MemoryStore();
    store.failNext = 1;
    const fused = createFusedFunction({
      registry,
      detector: new HotDetector(),
      store,
      producer: new MemoryProducer(),
    });
    const records = sourceRecords(kinesisEventOf([rawRecord('telemetry/dev-1', JSON.stringify(aReading()))]));
    await expect(fused(records)).rejects.toThrow(/store unavailable/);
  });
});
