import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeReading } from '../../../functions/lib/codec/reading-codec.ts';
import { DEFAULT_SCHEMA_DIR, SchemaRegistry } from '../../../functions/lib/codec/schema-registry.ts';
import type { StreamEvent } from '../../../functions/lib/events/types.ts';
import { HEADER } from '../../../functions/lib/reading.ts';
import { STREAMS } from '../../../functions/lib/streams/types.ts';
import { createValidateHandler } from '../../../functions/validate/handler.ts';
import {
  EVENT_SOURCES,
  MemoryProducer,
  rawRecord,
  sampleKinesisEvent,
  sampleMskEvent,
  sampleSelfManagedKafkaEvent,
} from '../../fixtures/fakes.ts';
import { aReading } from '../../support/readings.ts';
import { singleObjectWith } from '../lib/codec/codec-fixtures.ts';
import { unregisteredWriterSchema } from './schemas.ts';

describe('validate handler', () => {
  let producer: MemoryProducer;
  let registry: SchemaRegistry;
  beforeEach(() => {
    producer = new MemoryProducer();
    registry = SchemaRegistry.load();
  });

  it.each([
    ['Kinesis', sampleKinesisEvent, 2],
    ['MSK', sampleMskEvent, 1],
    ['self-managed Kafka', sampleSelfManagedKafkaEvent, 1],
  ] as const)(
    'accepts Lambda’s %s sample event and dead-letters its non-telemetry payloads',
    async (_name, sample, count) => {
      // Prepare
      const handler = createValidateHandler({ producer, registry });

      // Act
      const response = await handler(sample() as StreamEvent);

      // Assess
      expect(response).toEqual({ batchItemFailures: [] });
      expect(producer.records(STREAMS.valid)).toEqual([]);
      const dead = producer.records(STREAMS.dlq);
      expect(dead).toHaveLength(count);
      for (const d of dead) {
        expect(d.headers![HEADER.reason]).toMatch(/PAYLOAD_UNRECOGNISED|TOPIC_INVALID/);
        expect(Buffer.from(d.value).toString()).toMatch(/test\.$/);
        expect(d.headers![HEADER.origin]).not.toBe('');
      }
    },
  );

  describe.each(EVENT_SOURCES)('over $name events', ({ eventOf }) => {
    it('writes canonical readings to telemetry.valid and every bad record to telemetry.dlq', async () => {
      // Prepare
      const good = aReading({ deviceId: 'dev-1', seq: 7 });
      const event = eventOf([
        rawRecord('telemetry/dev-1', JSON.stringify(good)),
        rawRecord('telemetry/dev-1', 'not a reading'),
        rawRecord('telemetry/dev-2', encodeReading(aReading({ deviceId: 'dev-3' }), registry)),
      ]);
      const seen: unknown[] = [];
      const handler = createValidateHandler({ producer, registry, onResult: (r) => seen.push(r) });

      // Act
      const response = await handler(event);

      // Assess: per-record problems never fail the batch
      expect(response).toEqual({ batchItemFailures: [] });
      const valid = producer.records(STREAMS.valid);
      expect(valid).toHaveLength(1);
      expect(Buffer.from(valid[0]!.value).equals(encodeReading(good, registry))).toBe(true);
      expect(valid[0]!.headers![HEADER.mqttTopic]).toBe('telemetry/dev-1');
      expect(producer.records(STREAMS.dlq).map((d) => d.headers![HEADER.reason])).toEqual([
        'PAYLOAD_UNRECOGNISED',
        'DEVICE_MISMATCH',
      ]);
      expect(seen).toEqual([{ valid: 1, rejected: 2 }]);
    });

    it('fails the whole batch when a stream cannot be written, so the event source retries it', async () => {
      // Prepare
      producer.failNext = 1;
      const handler = createValidateHandler({ producer, registry });

      // Act / Assess
      await expect(
        handler(eventOf([rawRecord('telemetry/dev-1', JSON.stringify(aReading()))])),
      ).rejects.toThrow(/unavailable/);
    });
  });
});

describe('validate handler picking up a schema file added while it runs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iot-schemas-'));
    cpSync(DEFAULT_SCHEMA_DIR, dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reloads the registry when a reading’s writer schema is unknown, at most once per interval', async () => {
    // Prepare: a reading written with a schema the running registry does not know
    const producer = new MemoryProducer();
    let reloads = 0;
    const handler = createValidateHandler({
      producer,
      registry: SchemaRegistry.load(dir),
      reloadRegistry: async () => {
        reloads++;
        return SchemaRegistry.loadAsync(dir);
      },
      reloadIntervalMs: 60_000,
    });
    const writer = SchemaRegistry.load().register(unregisteredWriterSchema(), 'v4');
    const payload = singleObjectWith(writer, { ...aReading({ deviceId: 'dev-1' }), site: 'p' });
    const event = () => EVENT_SOURCES[0]!.eventOf([rawRecord('telemetry/dev-1', payload)]);

    // Act 1: unknown, and the schema directory does not have it either
    await handler(event());
    // Act 2: the file is dropped into history/, but the reload interval has not passed
    mkdirSync(join(dir, 'history'), { recursive: true });
    writeFileSync(join(dir, 'history', 'telemetry-v4.avsc'), JSON.stringify(unregisteredWriterSchema()));
    await handler(event());

    // Assess
    expect(reloads).toBe(1);
    expect(producer.records(STREAMS.dlq).map((d) => d.headers![HEADER.reason])).toEqual([
      'SCHEMA_UNKNOWN',
      'SCHEMA_UNKNOWN',
    ]);
    expect(SchemaRegistry.load(dir).lookupFingerprint(writer.fingerprint)).toBeDefined();
  });

  it('validates the batch again with the reloaded registry', async () => {
    // Prepare
    const producer = new MemoryProducer();
    mkdirSync(join(dir, 'history'), { recursive: true });
    const handler = createValidateHandler({
      producer,
      registry: SchemaRegistry.load(dir),
      reloadRegistry: () => SchemaRegistry.loadAsync(dir),
    });
    writeFileSync(join(dir, 'history', 'telemetry-v4.avsc'), JSON.stringify(unregisteredWriterSchema()));
    const writer = SchemaRegistry.load(dir).lookupFingerprint(
      SchemaRegistry.load().register(unregisteredWriterSchema()).fingerprint,
    )!;
    const payload = singleObjectWith(writer, { ...aReading({ deviceId: 'dev-1' }), site: 'p' });

    // Act
    await handler(EVENT_SOURCES[1]!.eventOf([rawRecord('telemetry/dev-1', payload)]));

    // Assess
    expect(producer.records(STREAMS.dlq)).toEqual([]);
    expect(producer.records(STREAMS.valid)).toHaveLength(1);
  });
});
