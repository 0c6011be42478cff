import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alertSchemaFingerprint,
  decodeAlert,
  encodeAlert,
} from '../../../../functions/lib/codec/alert-codec.ts';
import { compileSchema } from '../../../../functions/lib/codec/avro-binary.ts';
import {
  fingerprintOfCanonicalForm,
  parsingCanonicalForm,
} from '../../../../functions/lib/codec/crc64-avro.ts';
import { DEFAULT_SCHEMA_DIR } from '../../../../functions/lib/codec/schema-registry.ts';
import { anAlert, rejectionOf } from './codec-fixtures.ts';

describe('alert codec', () => {
  it.each([
    ['an open alert', anAlert()],
    [
      'a resolved alert with repeats',
      anAlert({ status: 'resolved', repeats: 12, message: 'temperature back to 20' }),
    ],
    [
      'an alert without value or score',
      anAlert({ rule: 'silence', severity: 'warning', value: null, score: null }),
    ],
    ['an info alert with unicode text', anAlert({ severity: 'info', message: 'Température 21,5 °C — ok' })],
  ])('round-trips %s', (_name, alert) => {
    // Act
    const decoded = decodeAlert(encodeAlert(alert));

    // Assess
    expect(decoded).toEqual(alert);
  });

  it('uses the fingerprint of schemas/alert.avsc', () => {
    // Prepare
    const type = compileSchema(readFileSync(join(DEFAULT_SCHEMA_DIR, 'alert.avsc'), 'utf8'));

    // Act
    const bytes = encodeAlert(anAlert());

    // Assess
    const expected = fingerprintOfCanonicalForm(parsingCanonicalForm(type)).hex;
    expect(alertSchemaFingerprint()).toBe(expected);
    expect(bytes.subarray(2, 10).toString('hex')).toBe(expected);
  });

  it('has an Alert interface with exactly the schema fields', () => {
    // Prepare
    const schema = JSON.parse(readFileSync(join(DEFAULT_SCHEMA_DIR, 'alert.avsc'), 'utf8')) as {
      fields: Array<{ name: string }>;
    };

    // Act
    const keys = Object.keys(anAlert());

    // Assess
    expect(keys).toEqual(schema.fields.map((f) => f.name));
  });

  it.each([
    ['an unknown severity', { severity: 'fatal' as never }, "field 'severity'"],
    ['a fractional ts', { ts: 1.5 }, "field 'ts'"],
    ['a missing deviceId', { deviceId: undefined as never }, "field 'deviceId'"],
  ])('refuses to encode %s, naming the field', (_name, overrides, detail) => {
    // Act
    const error = rejectionOf(() => encodeAlert(anAlert(overrides)));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain(detail);
  });

  it('rejects an enum index outside the symbols', () => {
    // Prepare: status is the 6th field; after five strings of known length its index is one byte
    const alert = anAlert({ id: 'i', dedupKey: 'k', deviceId: 'd', metric: 'm', rule: 'r' });
    const bytes = encodeAlert(alert);
    bytes[10 + 5 * 2] = 0x08;

    // Act
    const error = rejectionOf(() => decodeAlert(bytes));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain("field 'status'");
  });
});
