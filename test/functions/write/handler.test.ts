import { beforeEach, describe, expect, it } from 'vitest';
import { encodeReading } from '../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../functions/lib/codec/schema-registry.ts';
import { sourceRecords } from '../../../functions/lib/events/source-records.ts';
import type { StreamEvent } from '../../../functions/lib/events/types.ts';
import type { RecordFailure } from '../../../functions/write/core.ts';
import { createWriteHandler } from '../../../functions/write/handler.ts';
import {
  EVENT_SOURCES,
  MemoryStore,
  rawRecord,
  sampleKinesisEvent,
  sampleMskEvent,
  sampleSelfManagedKafkaEvent,
} from '../../fixtures/fakes.ts';
import { aReading } from '../../support/readings.ts';

describe('write handler', () => {
  let store: MemoryStore;
  let registry: SchemaRegistry;
  beforeEach(() => {
    store = new MemoryStore();
    registry = SchemaRegistry.load();
  });

  it.each([
    ['Kinesis', sampleKinesisEvent],
    ['MSK', sampleMskEvent],
    ['self-managed Kafka', sampleSelfManagedKafkaEvent],
  ] as const)(
    'reports every record of Lambda’s %s sample as failed, by its documented identifier',
    async (_n, sample) => {
      // Prepare
      const event = sample() as StreamEvent;
      const handler = createWriteHandler({ store, registry });

      // Act
      const response = await handler(event);

      // Assess
      expect(response.batchItemFailures).toEqual(
        sourceRecords(event).map((r) => ({ itemIdentifier: r.itemIdentifier })),
      );
      expect(store.rows.size).toBe(0);
    },
  );

  describe.each(EVENT_SOURCES)('over $name events', ({ eventOf }) => {
    it('stores the good readings and reports exactly the records that do not decode', async () => {
      // Prepare
      const readings = [0, 1, 2, 3].map((seq) => aReading({ deviceId: 'dev-1', seq }));
      const records = readings.map((r) => rawRecord('telemetry/dev-1', encodeReading(r, registry)));
      records[1] = rawRecord('telemetry/dev-1', Buffer.from([0xc3, 0x01, 0xde, 0xad]));
      records[3] = rawRecord('telemetry/dev-1', 'nope');
      const event = eventOf(records);
      const failures: RecordFailure[] = [];
      const handler = createWriteHandler({ store, registry, onRecordFailure: (f) => failures.push(f) });

      // Act
      const response = await handler(event);

      // Assess
      const ids = sourceRecords(event).map((r) => r.itemIdentifier);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: ids[1] }, { itemIdentifier: ids[3] }]);
      expect([...store.rows.values()].map((r) => r.seq).sort()).toEqual([0, 2]);
      expect(failures.map((f) => f.code)).toEqual(['AVRO_TRUNCATED', 'PAYLOAD_UNRECOGNISED']);
    });

    it('keeps the bridge receive time, and stores a redelivered batch once', async () => {
      // Prepare
      const r = aReading({ deviceId: 'dev-1', seq: 5 });
      const record = rawRecord('telemetry/dev-1', encodeReading(r, registry));
      record.headers['received-at'] = '1700000000999';
      const handler = createWriteHandler({ store, registry });

      // Act
      await handler(eventOf([record]));
      await handler(eventOf([record]));

      // Assess
      expect([...store.rows.values()]).toEqual([{ ...r, receivedAt: 1700000000999 }]);
    });

    it('fails the whole batch when the store cannot be written', async () => {
      // Prepare
      store.failNext = 1;
      const handler = createWriteHandler({ store, registry });

      // Act / Assess
      await expect(
        handler(eventOf([rawRecord('telemetry/dev-1', encodeReading(aReading(), registry))])),
      ).rejects.toThrow(/store unavailable/);
    });
  });
});
