import { beforeEach, describe, expect, it } from 'vitest';
import {
  encodeConfluent,
  encodeReading,
  encodeReadingContainer,
} from '../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../functions/lib/codec/schema-registry.ts';
import type { SourceRecord } from '../../../functions/lib/events/types.ts';
import { HEADER, type Reading } from '../../../functions/lib/reading.ts';
import {
  DEFAULT_VALIDATE_OPTIONS,
  expectedTopicsKept,
  type ValidateOptions,
  validateRecords,
} from '../../../functions/validate/core.ts';
import { bridgeHeaders } from '../../fixtures/fakes.ts';
import { aReading } from '../../support/readings.ts';
import { aV1CompatibleReading, singleObjectWith } from '../lib/codec/codec-fixtures.ts';
import { newerWriterSchema, unregisteredWriterSchema } from './schemas.ts';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const OPTIONS: ValidateOptions = { ...DEFAULT_VALIDATE_OPTIONS, now: () => NOW };

function aSourceRecord(
  topic: string,
  value: Uint8Array | string,
  overrides: Partial<SourceRecord> = {},
): SourceRecord {
  return {
    itemIdentifier: '1',
    key: topic.split('/')[1] ?? '',
    value: Buffer.from(typeof value === 'string' ? Buffer.from(value) : value),
    headers: bridgeHeaders(topic, NOW - 5),
    origin: 'telemetry.raw/shardId-000000000000@1',
    arrivedAt: NOW,
    ...overrides,
  };
}

const reading = (overrides: Partial<Reading> = {}) =>
  aReading({ deviceId: 'dev-1', ts: NOW - 1_000, ...overrides });

describe('validateRecords', () => {
  let registry: SchemaRegistry;
  beforeEach(() => {
    registry = SchemaRegistry.load();
  });

  describe('accepts every wire format and writes the canonical record', () => {
    const formats: [string, (r: Reading, reg: SchemaRegistry) => Uint8Array | string][] = [
      ['Avro single-object', (r, reg) => encodeReading(r, reg)],
      ['Confluent wire format', (r, reg) => encodeConfluent(r, 1, reg)],
      ['JSON', (r) => JSON.stringify(r)],
    ];
    it.each(formats)('%s', (_name, encode) => {
      // Prepare
      const r = reading({ tags: { site: 'a' } });
      const record = aSourceRecord('telemetry/dev-1', encode(r, registry));

      // Act
      const result = validateRecords([record], registry, OPTIONS);

      // Assess
      expect(result.rejected).toEqual([]);
      expect(result.valid).toHaveLength(1);
      expect(result.valid[0]!.key).toBe('dev-1');
      expect(Buffer.from(result.valid[0]!.value).equals(encodeReading(r, registry))).toBe(true);
      expect(result.valid[0]!.headers).toEqual(record.headers);
    });

    it('a gateway batch: one record, many readings of many devices', () => {
      // Prepare
      const readings = [reading({ deviceId: 'dev-a', seq: 1 }), reading({ deviceId: 'dev-b', seq: 2 })];
      const record = aSourceRecord('gateways/gw-1/telemetry', encodeReadingContainer(readings, registry), {
        key: 'gw-1',
      });

      // Act
      const result = validateRecords([record], registry, OPTIONS);

      // Assess
      expect(result.valid.map((v) => v.key)).toEqual(['dev-a', 'dev-b']);
      expect(result.rejected).toEqual([]);
    });
  });

  describe('resolves the writer schema to the reader schema', () => {
    it('an older writer (v1): int -> long, float -> double, added fields take their defaults', () => {
      // Prepare
      const v1 = registry.lookupConfluentId(2)!;
      const expected = aV1CompatibleReading({ deviceId: 'dev-1', ts: NOW - 1_000 });
      const { battery: _b, tags: _t, ...v1Value } = expected;
      const payloads = [singleObjectWith(v1, v1Value), encodeConfluent(expected, 2, registry)];

      // Act
      const result = validateRecords(
        payloads.map((p) => aSourceRecord('telemetry/dev-1', p)),
        registry,
        OPTIONS,
      );

      // Assess
      expect(result.rejected).toEqual([]);
      for (const valid of result.valid) {
        expect(Buffer.from(valid.value).equals(encodeReading(expected, registry))).toBe(true);
      }
    });

    it('a newer writer: its added field is skipped, its removed optional field read as null', () => {
      // Prepare
      const v3 = registry.register(newerWriterSchema(), 'test v3');
      const { pressure: _p, ...rest } = reading();
      const payload = singleObjectWith(v3, { ...rest, firmware: '2.1.0' });

      // Act
      const result = validateRecords([aSourceRecord('telemetry/dev-1', payload)], registry, OPTIONS);

      // Assess
      expect(result.rejected).toEqual([]);
      expect(
        Buffer.from(result.valid[0]!.value).equals(encodeReading({ ...rest, pressure: null }, registry)),
      ).toBe(true);
    });

    it('an unknown fingerprint is a dead letter whose reason names the fingerprint', () => {
      // Prepare: written with a schema another registry knows, this one does not
      const unknown = SchemaRegistry.load().register(unregisteredWriterSchema(), 'test v4');
      const payload = singleObjectWith(unknown, { ...reading(), site: 'plant-9' });
      const record = aSourceRecord('telemetry/dev-1', payload);

      // Act
      const result = validateRecords([record], registry, OPTIONS);

      // Assess
      expect(result.valid).toEqual([]);
      const [dead] = result.rejected;
      expect(dead!.headers![HEADER.reason]).toBe('SCHEMA_UNKNOWN');
      expect(dead!.headers![HEADER.detail]).toContain(unknown.fingerprint);
      expect(Buffer.from(dead!.value).equals(payload)).toBe(true);
      expect(dead!.headers![HEADER.origin]).toBe(record.origin);
      expect(result.reasons).toEqual({ SCHEMA_UNKNOWN: 1 });
    });
  });

  describe('checks what the schema cannot', () => {
    const cases: [string, string, Uint8Array | string | ((reg: SchemaRegistry) => Uint8Array), string][] = [
      [
        'a non-finite metric',
        'telemetry/dev-1',
        (reg) => encodeReading(reading({ vibration: Number.NaN }), reg),
        'READING_INVALID',
      ],
      [
        'an infinite metric',
        'telemetry/dev-1',
        (reg) => encodeReading(reading({ battery: Number.POSITIVE_INFINITY }), reg),
        'READING_INVALID',
      ],
      [
        'a timestamp far in the future',
        'telemetry/dev-1',
        JSON.stringify(reading({ ts: NOW + 3_600_000 })),
        'READING_INVALID',
      ],
      [
        'a timestamp far in the past',
        'telemetry/dev-1',
        JSON.stringify(reading({ ts: NOW - 90 * 86_400_000 })),
        'READING_INVALID',
      ],
      [
        'a negative sequence number',
        'telemetry/dev-1',
        JSON.stringify(reading({ seq: -1 })),
        'READING_INVALID',
      ],
      ['a payload claiming another device', 'telemetry/dev-2', JSON.stringify(reading()), 'DEVICE_MISMATCH'],
      [
        'a device id that is a prefix of the topic’s',
        'telemetry/dev-10',
        JSON.stringify(reading()),
        'DEVICE_MISMATCH',
      ],
      ['a topic that is no telemetry topic', 'status/dev-1', JSON.stringify(reading()), 'TOPIC_INVALID'],
      ['a nested telemetry topic', 'telemetry/dev-1/x', JSON.stringify(reading()), 'TOPIC_INVALID'],
      // The topic is judged before the payload, whatever order the checks run in.
      ['a nested telemetry topic with a bad payload', 'telemetry/dev-1/x', 'garbage', 'TOPIC_INVALID'],
      [
        'a topic that only starts like a device topic',
        'telemetryx/dev-1',
        JSON.stringify(reading()),
        'TOPIC_INVALID',
      ],
      ['another topic starting with t', 'tmp/dev-1', JSON.stringify(reading()), 'TOPIC_INVALID'],
      [
        'a device id with a slash, on the nested topic it names',
        'telemetry/dev/1',
        JSON.stringify(reading({ deviceId: 'dev/1' })),
        'TOPIC_INVALID',
      ],
      [
        'a device id with a slash, on a device topic',
        'telemetry/dev-1',
        JSON.stringify(reading({ deviceId: 'dev/1' })),
        'DEVICE_MISMATCH',
      ],
      [
        'an empty device id on the bare prefix',
        'telemetry/',
        JSON.stringify(reading({ deviceId: '' })),
        'READING_INVALID',
      ],
      [
        'a gateway sensor id holding a NUL character',
        'gateways/gw-1/telemetry',
        (reg) => encodeReadingContainer([reading({ deviceId: 'dev-\u0000a' })], reg),
        'READING_INVALID',
      ],
      ['an empty payload on no device topic', 'telemetry/a/b', '', 'TOPIC_INVALID'],
      ['an empty payload', 'telemetry/dev-1', '', 'PAYLOAD_EMPTY'],
      ['bytes that are no reading', 'telemetry/dev-1', 'hello', 'PAYLOAD_UNRECOGNISED'],
      ['malformed JSON', 'telemetry/dev-1', '{"deviceId":', 'JSON_INVALID'],
    ];
    it.each(cases)('rejects %s', (_name, topic, payload, code) => {
      // Prepare
      const bytes = typeof payload === 'function' ? payload(registry) : payload;
      const record = aSourceRecord(topic, bytes);

      // Act
      const result = validateRecords([record], registry, OPTIONS);

      // Assess
      expect(result.valid).toEqual([]);
      expect(result.rejected).toHaveLength(1);
      expect(result.rejected[0]!.headers![HEADER.reason]).toBe(code);
      expect(result.rejected[0]!.headers![HEADER.detail]).not.toBe('');
      expect(Buffer.from(result.rejected[0]!.value).equals(record.value)).toBe(true);
    });

    it('rejects a gateway batch whole when one of its readings is bad, keeping its bytes once', () => {
      // Prepare
      const readings = [reading({ deviceId: 'dev-a' }), reading({ deviceId: 'dev-b', ts: NOW + 86_400_000 })];
      const record = aSourceRecord('gateways/gw-1/telemetry', encodeReadingContainer(readings, registry), {
        key: 'gw-1',
      });

      // Act
      const result = validateRecords([record], registry, OPTIONS);

      // Assess
      expect(result.valid).toEqual([]);
      expect(result.rejected.map((r) => r.headers![HEADER.reason])).toEqual(['READING_INVALID']);
    });

    it('keeps the good records of a batch and rejects exactly the bad ones, in order', () => {
      // Prepare
      const records = [
        aSourceRecord('telemetry/dev-1', JSON.stringify(reading({ seq: 1 }))),
        aSourceRecord('telemetry/dev-1', 'garbage'),
        aSourceRecord('telemetry/dev-1', encodeReading(reading({ seq: 2 }), registry)),
        aSourceRecord('telemetry/dev-9', JSON.stringify(reading({ seq: 3 }))),
      ];

      // Act
      const result = validateRecords(records, registry, OPTIONS);

      // Assess
      expect(result.valid).toHaveLength(2);
      expect(result.rejectedRecords).toEqual([records[1], records[3]]);
      expect(result.reasons).toEqual({ PAYLOAD_UNRECOGNISED: 1, DEVICE_MISMATCH: 1 });
    });
  });

  it('keeps the expected topics of at most 65,536 devices, and checks every device right past that', () => {
    // Prepare: 70,000 devices, each on its own topic, then the first again on its own and on another's
    const ids = Array.from({ length: 70_000 }, (_, i) => `fleet-${i}`);
    const records = ids.map((id) =>
      aSourceRecord(`telemetry/${id}`, encodeReading(reading({ deviceId: id }), registry)),
    );
    const again = encodeReading(reading({ deviceId: ids[0] }), registry);
    records.push(aSourceRecord(`telemetry/${ids[0]}`, again), aSourceRecord(`telemetry/${ids[1]}`, again));

    // Act
    const result = validateRecords(records, registry, OPTIONS);

    // Assess
    expect(result.valid).toHaveLength(70_001);
    expect(result.reasons).toEqual({ DEVICE_MISMATCH: 1 });
    expect(result.rejectedRecords).toEqual([records[70_001]]);
    expect(expectedTopicsKept()).toBeGreaterThan(0);
    expect(expectedTopicsKept()).toBeLessThanOrEqual(65_536);
  });
});
