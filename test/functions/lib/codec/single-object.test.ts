import { describe, expect, it } from 'vitest';
import { decodeAlert, encodeAlert } from '../../../../functions/lib/codec/alert-codec.ts';
import { unwrapEnvelope, wrapEnvelope } from '../../../../functions/lib/codec/envelope.ts';
import { encodeReading } from '../../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../../functions/lib/codec/schema-registry.ts';
import { anAlert, aReading, rejectionOf } from './codec-fixtures.ts';

/** The contract every single-schema, single-object codec keeps. */
const CODECS = [
  {
    name: 'alert-codec',
    encode: () => encodeAlert(anAlert()),
    decode: (bytes: Uint8Array) => decodeAlert(bytes),
  },
  {
    name: 'envelope',
    encode: () => wrapEnvelope({ 'mqtt-topic': 'telemetry/dev-1' }, Buffer.from('payload')),
    decode: (bytes: Uint8Array) => unwrapEnvelope(bytes),
  },
];

describe.each(CODECS)('$name', ({ encode, decode }) => {
  it('starts its output with C3 01 and an 8-byte fingerprint', () => {
    // Act
    const bytes = encode();

    // Assess
    expect(bytes.subarray(0, 2).toString('hex')).toBe('c301');
    expect(bytes.length).toBeGreaterThan(10);
  });

  it('rejects every truncated prefix with a RejectedRecordError', () => {
    // Prepare
    const bytes = encode();

    for (let length = 0; length < bytes.length; length++) {
      // Act
      const error = rejectionOf(() => decode(bytes.subarray(0, length)));

      // Assess
      expect(['PAYLOAD_UNRECOGNISED', 'AVRO_TRUNCATED']).toContain(error.code);
      if (length >= 2) expect(error.code).toBe('AVRO_TRUNCATED');
    }
  });

  it('rejects bytes without the single-object marker', () => {
    // Act
    const error = rejectionOf(() => decode(Buffer.from('{"not":"avro"}')));

    // Assess
    expect(error.code).toBe('PAYLOAD_UNRECOGNISED');
    expect(error.message).toContain('7b226e6f');
  });

  it('rejects a single-object record of another schema, naming both fingerprints', () => {
    // Prepare
    const registry = SchemaRegistry.load();
    const reading = encodeReading(aReading(), registry);

    // Act
    const error = rejectionOf(() => decode(reading));

    // Assess
    expect(error.code).toBe('SCHEMA_UNKNOWN');
    expect(error.message).toContain(registry.readerFingerprint);
  });

  it('rejects trailing bytes', () => {
    // Act
    const error = rejectionOf(() => decode(Buffer.concat([encode(), Buffer.from([1])])));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain('trailing');
  });
});
