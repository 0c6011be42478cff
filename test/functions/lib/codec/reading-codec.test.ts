import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../../../functions/lib/codec/avro-binary.ts';
import { schemaFingerprint } from '../../../../functions/lib/codec/crc64-avro.ts';
import { writeContainer } from '../../../../functions/lib/codec/object-container.ts';
import {
  decodeReading,
  decodeReadingContainer,
  detectWireFormat,
  encodeConfluent,
  encodeReading,
  encodeReadingContainer,
  type WireFormat,
} from '../../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../../functions/lib/codec/schema-registry.ts';
import { singleObjectHeader } from '../../../../functions/lib/codec/single-object.ts';
import { RejectedRecordError } from '../../../../functions/lib/errors.ts';
import type { Reading } from '../../../../functions/lib/reading.ts';
import {
  aReading,
  aV1CompatibleReading,
  aV1Value,
  randomBytes,
  rejectionOf,
  seededRandom,
  singleObjectWith,
} from './codec-fixtures.ts';

const registry = SchemaRegistry.load();
const v1 = registry.lookupConfluentId(2)!;

/** A schema one version ahead of the reader: two new fields with defaults, which the reader ignores. */
const NEWER_SCHEMA = {
  type: 'record',
  name: 'Reading',
  namespace: 'io.iotingest.telemetry',
  fields: [
    ...(JSON.parse(registry.current.canonicalForm) as { fields: unknown[] }).fields,
    { name: 'co2', type: ['null', 'double'], default: null },
    { name: 'labels', type: { type: 'map', values: 'string' }, default: {} },
  ],
};

interface Format {
  name: WireFormat;
  encode: (reading: Reading) => Buffer;
}

const FORMATS: Format[] = [
  { name: 'single-object', encode: (r) => encodeReading(r, registry) },
  { name: 'confluent', encode: (r) => encodeConfluent(r, 1, registry) },
  { name: 'json', encode: (r) => Buffer.from(JSON.stringify(r)) },
];

describe.each(FORMATS)('decodeReading of $name', ({ name, encode }) => {
  it('round-trips a reading with every field set', () => {
    // Prepare
    const reading = aReading({ seq: 2 ** 40, tags: { site: 'plant-7', line: 'A' }, vibration: -0.5 });

    // Act
    const bytes = encode(reading);
    const decoded = decodeReading(bytes, registry);

    // Assess
    expect(detectWireFormat(bytes)).toBe(name);
    expect(decoded).toEqual(reading);
  });

  it('round-trips nulls', () => {
    // Prepare
    const reading = aReading({
      temperature: null,
      humidity: null,
      pressure: null,
      vibration: null,
      battery: null,
      tags: null,
    });

    // Act
    const decoded = decodeReading(encode(reading), registry);

    // Assess
    expect(decoded).toEqual(reading);
  });

  it('rejects every truncated prefix with a RejectedRecordError', () => {
    // Prepare
    const bytes = encode(aReading({ tags: { site: 'plant-7' } }));

    for (let length = 0; length < bytes.length; length++) {
      // Act
      const error = rejectionOf(() => decodeReading(bytes.subarray(0, length), registry));

      // Assess
      if (length === 0) expect(error.code).toBe('PAYLOAD_EMPTY');
      else if (name === 'json') expect(error.code).toBe('JSON_INVALID');
      else expect(error.code).toBe('AVRO_TRUNCATED');
    }
  });

  it('rejects a payload over the size limit', () => {
    // Prepare
    const bytes = encode(aReading());

    // Act
    const error = rejectionOf(() => decodeReading(bytes, registry, bytes.length - 1));

    // Assess
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(error.message).toContain(`${bytes.length} bytes`);
  });
});

describe('decodeReading with older and newer writer schemas', () => {
  it('reads a v1 single-object reading as the current schema (int -> long, float -> double, defaults)', () => {
    // Prepare
    const bytes = singleObjectWith(v1, aV1Value());

    // Act
    const reading = decodeReading(bytes, registry);

    // Assess
    expect(reading).toEqual({
      deviceId: 'dev-v1',
      ts: 1_718_000_000_123,
      seq: 41,
      temperature: 21.5,
      humidity: null,
      pressure: 1013.5,
      vibration: 0.25,
      battery: null,
      tags: null,
    });
  });

  it('reads a Confluent reading written with schema id 2 (v1)', () => {
    // Prepare
    const reading = aV1CompatibleReading({ battery: 50, tags: { dropped: 'by v1' } });

    // Act
    const decoded = decodeReading(encodeConfluent(reading, 2, registry), registry);

    // Assess: what v1 cannot carry comes back as the reader's defaults
    expect(decoded).toEqual({ ...reading, battery: null, tags: null });
  });

  it('rejects an unknown fingerprint naming it, and reads it once the schema is registered', () => {
    // Prepare
    const fresh = SchemaRegistry.load();
    const newer = compileStandalone(NEWER_SCHEMA);
    const bytes = Buffer.concat([
      newer.header,
      newer.body({ ...aReading({ deviceId: 'dev-new' }), co2: 415.5, labels: { fw: '3.1' } }),
    ]);

    // Act
    const before = rejectionOf(() => decodeReading(bytes, fresh));
    const registered = fresh.register(JSON.stringify(NEWER_SCHEMA));
    const after = decodeReading(bytes, fresh);

    // Assess
    expect(before.code).toBe('SCHEMA_UNKNOWN');
    expect(before.message).toContain(newer.hex);
    expect(registered.fingerprint).toBe(newer.hex);
    expect(after).toEqual(aReading({ deviceId: 'dev-new', ts: after.ts }));
    expect(after).not.toHaveProperty('co2');
  });

  it('does not let a registration on one registry leak into another', () => {
    // Prepare
    const newer = compileStandalone(NEWER_SCHEMA);
    SchemaRegistry.load().register(NEWER_SCHEMA);

    // Act
    const known = registry.lookupFingerprint(newer.hex);

    // Assess
    expect(known).toBeUndefined();
  });
});

describe('decodeReading rejections', () => {
  // deviceId 'dev-1' (6 bytes), ts 1000 (2), seq 0 (1): temperature's union index is at byte 19
  const valid = encodeReading(aReading({ ts: 1000, seq: 0 }), registry);

  it.each([
    ['empty', Buffer.alloc(0), 'PAYLOAD_EMPTY', 'empty'],
    ['garbage', Buffer.from('deadbeef01020304', 'hex'), 'PAYLOAD_UNRECOGNISED', 'de ad be ef'],
    ['C3 without 01', Buffer.from('c302000000000000000000', 'hex'), 'PAYLOAD_UNRECOGNISED', 'c3 02'],
    ['a JSON array', Buffer.from('[1,2]'), 'PAYLOAD_UNRECOGNISED', 'JSON object'],
    [
      'a container',
      encodeReadingContainer([aReading()], registry),
      'PAYLOAD_UNRECOGNISED',
      'gateways/{gatewayId}/telemetry',
    ],
    [
      'unknown fingerprint',
      Buffer.from('c3010123456789abcdef00', 'hex'),
      'SCHEMA_UNKNOWN',
      '0123456789abcdef',
    ],
    ['unknown Confluent id', Buffer.from('0000000063', 'hex'), 'SCHEMA_UNKNOWN', 'schema id 99'],
    ['trailing bytes', Buffer.concat([valid, Buffer.from([0, 0])]), 'AVRO_INVALID', '2 trailing byte(s)'],
    [
      'a bad union index',
      Buffer.concat([valid.subarray(0, 19), Buffer.from([0x08]), valid.subarray(20)]),
      'AVRO_INVALID',
      "field 'temperature'",
    ],
  ])('rejects %s', (_name, bytes, code, detail) => {
    // Act
    const error = rejectionOf(() => decodeReading(bytes, registry));

    // Assess
    expect(error.code).toBe(code);
    expect(error.message).toContain(detail);
  });

  it('rejects a map whose block count is far beyond the payload, without looping over it', () => {
    // Prepare: tags is union branch 1, then a block count of 2^60 (zig-zag varint) and nothing more
    const head = encodeReading(aReading({ tags: null }), registry);
    const hostile = Buffer.concat([
      head.subarray(0, head.length - 1),
      Buffer.from([0x02]),
      zigZagVarint(2n ** 60n),
    ]);

    // Act
    const error = rejectionOf(() => decodeReading(hostile, registry));

    // Assess
    expect(error.code).toBe('AVRO_TRUNCATED');
    expect(error.message).toContain("field 'tags'");
  });
});

describe('decodeReading of JSON', () => {
  it('accepts what a person would type: plain numbers, missing nullable fields, whitespace', () => {
    // Prepare
    const payload = Buffer.from(
      '\n  {"deviceId": "dev-9", "ts": 1718000000000, "seq": 3, "temperature": 21.5}',
    );

    // Act
    const reading = decodeReading(payload, registry);

    // Assess
    expect(reading).toEqual({
      deviceId: 'dev-9',
      ts: 1_718_000_000_000,
      seq: 3,
      temperature: 21.5,
      humidity: null,
      pressure: null,
      vibration: null,
      battery: null,
      tags: null,
    });
  });

  it('accepts the Avro JSON encoding of unions and a UTF-8 BOM', () => {
    // Prepare
    const json = '{"deviceId":"d","ts":1,"seq":2,"temperature":{"double":3.5},"tags":{"map":{"a":"b"}}}';
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]);

    // Act
    const reading = decodeReading(payload, registry);

    // Assess
    expect(reading.temperature).toBe(3.5);
    expect(reading.tags).toEqual({ a: 'b' });
  });

  it.each([
    [
      'a wrong type',
      { humidity: 'wet' },
      'field \'humidity\': expected a number (double), got the string "wet"',
    ],
    ['a missing required field', { deviceId: undefined }, "missing required field 'deviceId'"],
    ['a non-integer ts', { ts: 1718000000000.5 }, "field 'ts': expected an integer (long)"],
    ['a non-integer seq', { seq: 1.5 }, "field 'seq': expected an integer (long)"],
    ['an unsafe integer ts', { ts: 2 ** 60 }, "field 'ts': expected an integer (long)"],
    ['null for a required field', { deviceId: null }, "field 'deviceId': expected a string, got null"],
    ['an unknown field', { temprature: 20 }, "unknown field 'temprature'"],
    ['a non-string tag', { tags: { site: 7 } }, "field 'tags.site': expected a string, got the number 7"],
  ])('rejects %s naming the field', (_name, overrides, message) => {
    // Prepare
    const payload = Buffer.from(JSON.stringify({ ...aReading(), ...overrides }));

    // Act
    const error = rejectionOf(() => decodeReading(payload, registry));

    // Assess
    expect(error.code).toBe('JSON_INVALID');
    expect(error.message).toContain(message);
  });

  it('rejects malformed JSON', () => {
    // Act
    const error = rejectionOf(() => decodeReading(Buffer.from('{"deviceId": "d",'), registry));

    // Assess
    expect(error.code).toBe('JSON_INVALID');
    expect(error.message).toMatch(/^payload is not valid JSON: /);
  });
});

describe('encodeReading', () => {
  it('writes C3 01, the current fingerprint, then the body', () => {
    // Act
    const bytes = encodeReading(aReading(), registry);

    // Assess
    expect(bytes.subarray(0, 2).toString('hex')).toBe('c301');
    expect(bytes.subarray(2, 10).toString('hex')).toBe(registry.readerFingerprint);
  });

  it('rejects a reading the schema cannot hold, naming the field', () => {
    // Act
    const error = rejectionOf(() => encodeReading(aReading({ ts: 1.5 }), registry));

    // Assess
    expect(error.code).toBe('READING_INVALID');
    expect(error.message).toContain("field 'ts'");
  });

  it('decodes from a Uint8Array view into a larger buffer without copying it first', () => {
    // Prepare
    const bytes = encodeReading(aReading(), registry);
    const backing = new Uint8Array(bytes.length + 20);
    backing.set(bytes, 7);
    const view = new Uint8Array(backing.buffer, 7, bytes.length);

    // Act
    const reading = decodeReading(view, registry);

    // Assess
    expect(reading.deviceId).toBe('dev-1');
  });
});

describe.each(['deflate', 'null'] as const)('reading containers with the %s codec', (codec) => {
  it('round-trips a gateway batch', () => {
    // Prepare
    const readings = Array.from({ length: 50 }, (_, i) => aReading({ deviceId: `dev-${i % 5}`, seq: i }));

    // Act
    const decoded = decodeReadingContainer(encodeReadingContainer(readings, registry, { codec }), registry);

    // Assess
    expect(decoded).toEqual(readings);
  });

  it('reads a container written with the v1 schema through the registry', () => {
    // Prepare
    const bytes = writeContainer(
      v1.writerType,
      v1.canonicalForm,
      [aV1Value({ seq: 1 }), aV1Value({ seq: 2 })],
      { codec },
    );

    // Act
    const readings = decodeReadingContainer(bytes, registry);

    // Assess
    expect(readings.map((r) => [r.seq, r.battery, r.tags])).toEqual([
      [1, null, null],
      [2, null, null],
    ]);
  });

  it('rejects every truncated prefix, except the one that is a valid empty container', () => {
    // Prepare: a container cut right after its header is a well-formed container with no blocks
    const bytes = encodeReadingContainer([aReading(), aReading({ seq: 1 })], registry, { codec });
    const headerLength = encodeReadingContainer([], registry, { codec }).length;

    for (let length = 0; length < bytes.length; length++) {
      // Act
      let outcome: unknown;
      try {
        outcome = decodeReadingContainer(bytes.subarray(0, length), registry);
      } catch (error) {
        outcome = error;
      }

      // Assess
      if (length === headerLength) expect(outcome).toEqual([]);
      else {
        expect(outcome).toBeInstanceOf(RejectedRecordError);
        expect(['PAYLOAD_EMPTY', 'PAYLOAD_UNRECOGNISED', 'AVRO_TRUNCATED']).toContain(
          (outcome as RejectedRecordError).code,
        );
      }
    }
  });
});

describe('reading containers', () => {
  it('rejects a container whose schema cannot be read as a Reading', () => {
    // Prepare
    const other = {
      type: 'record',
      name: 'io.iotingest.telemetry.Reading',
      fields: [{ name: 'deviceId', type: 'int' }],
    };
    const bytes = writeContainer(compileStandalone(other).type, JSON.stringify(other), [{ deviceId: 1 }]);

    // Act
    const error = rejectionOf(() => decodeReadingContainer(bytes, registry));

    // Assess
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.message).toContain('cannot read');
  });

  it('binds an embedded schema once, reusing the registered writer when it is one', () => {
    // Prepare
    const fresh = SchemaRegistry.load();
    const bytes = writeContainer(v1.writerType, v1.canonicalForm, [aV1Value()]);

    // Act
    decodeReadingContainer(bytes, fresh);
    decodeReadingContainer(bytes, fresh);
    const binding = fresh.writerForContainerSchema(v1.canonicalForm);

    // Assess
    expect(binding).toBe(fresh.lookupFingerprint(v1.fingerprint));
  });

  it('rejects a payload that is not a container', () => {
    // Act
    const error = rejectionOf(() => decodeReadingContainer(encodeReading(aReading(), registry), registry));

    // Assess
    expect(error.code).toBe('PAYLOAD_UNRECOGNISED');
    expect(error.message).toContain('single-object');
  });
});

describe('decodeReading over random bytes (property)', () => {
  const random = seededRandom(20240611);
  const valid = encodeReading(aReading({ tags: { site: 'x', line: 'y' } }), registry);
  const inputs: Array<[string, () => Buffer]> = [
    ['random bytes', () => randomBytes(random, Math.floor(random() * 64))],
    [
      'a valid header and a random body',
      () => Buffer.concat([valid.subarray(0, 10), randomBytes(random, Math.floor(random() * 80))]),
    ],
    [
      'a Confluent header and a random body',
      () => Buffer.concat([Buffer.from('0000000001', 'hex'), randomBytes(random, Math.floor(random() * 80))]),
    ],
    ['a valid payload with bytes flipped', () => flipBytes(valid, random)],
    [
      'random JSON-ish text',
      () => Buffer.from(`{${randomBytes(random, Math.floor(random() * 40)).toString('latin1')}`, 'latin1'),
    ],
  ];

  it.each(inputs)('only ever yields a Reading or a RejectedRecordError for %s', (_name, generate) => {
    for (let i = 0; i < 5000; i++) {
      // Prepare
      const bytes = generate();

      // Act
      let outcome: unknown;
      try {
        outcome = decodeReading(bytes, registry);
      } catch (error) {
        outcome = error;
      }

      // Assess
      if (outcome instanceof RejectedRecordError) continue;
      if (outcome instanceof Error) throw new Error(`${bytes.toString('hex')} threw ${outcome.stack}`);
      expect(typeof (outcome as Reading).deviceId).toBe('string');
    }
  });
});

function flipBytes(bytes: Buffer, random: () => number): Buffer {
  const out = Buffer.from(bytes);
  const flips = 1 + Math.floor(random() * 3);
  for (let i = 0; i < flips; i++)
    out[10 + Math.floor(random() * (out.length - 10))] = Math.floor(random() * 256);
  return out;
}

function zigZagVarint(value: bigint): Buffer {
  let n = value << 1n;
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number((n & 0x7fn) | 0x80n));
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

/** A schema compiled outside any registry, with its single-object header. */
function compileStandalone(schema: object) {
  const type = compileSchema(schema);
  const fingerprint = schemaFingerprint(type);
  return {
    type,
    hex: fingerprint.hex,
    header: singleObjectHeader(fingerprint.bytes),
    body: (value: unknown) => type.toBuffer(value),
  };
}
