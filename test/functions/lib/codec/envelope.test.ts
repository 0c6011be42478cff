import { describe, expect, it } from 'vitest';
import { isEnvelope, unwrapEnvelope, wrapEnvelope } from '../../../../functions/lib/codec/envelope.ts';
import { encodeReading } from '../../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../../functions/lib/codec/schema-registry.ts';
import { HEADER } from '../../../../functions/lib/reading.ts';
import { aReading, rejectionOf } from './codec-fixtures.ts';

describe('Kinesis envelope', () => {
  const registry = SchemaRegistry.load();

  it.each([
    [
      'bridge headers around a reading',
      { [HEADER.mqttTopic]: 'telemetry/dev-1', [HEADER.receivedAt]: '1718000000123' },
      encodeReading(aReading(), registry),
    ],
    ['no headers and an empty payload', {}, Buffer.alloc(0)],
    [
      'binary bytes of every value',
      { [HEADER.gatewayId]: 'gw-ü' },
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    ],
    ['a large payload', { [HEADER.reason]: 'AVRO_INVALID' }, Buffer.alloc(300_000, 7)],
  ])('round-trips %s, leaving the payload untouched', (_name, headers, payload) => {
    // Act
    const envelope = wrapEnvelope(headers, payload);
    const unwrapped = unwrapEnvelope(envelope);

    // Assess
    expect(isEnvelope(envelope)).toBe(true);
    expect(unwrapped.headers).toEqual(headers);
    expect(Buffer.compare(unwrapped.payload, payload)).toBe(0);
  });

  it('wraps a Uint8Array view as exactly its own bytes', () => {
    // Prepare
    const backing = Buffer.from('xxxPAYLOADxxx');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 3, 7);

    // Act
    const unwrapped = unwrapEnvelope(wrapEnvelope({}, view));

    // Assess
    expect(unwrapped.payload.toString()).toBe('PAYLOAD');
  });

  it('keeps a header named __proto__ as a header', () => {
    // Prepare
    const headers = JSON.parse('{"__proto__": "x", "a": "b"}') as Record<string, string>;

    // Act
    const unwrapped = unwrapEnvelope(wrapEnvelope(headers, Buffer.from('p')));

    // Assess
    expect(Object.keys(unwrapped.headers)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(unwrapped.headers)).toBe(Object.prototype);
  });

  it('tells an envelope from a bare device payload', () => {
    // Prepare
    const reading = encodeReading(aReading(), registry);

    // Act
    const [bare, json, tiny] = [
      isEnvelope(reading),
      isEnvelope(Buffer.from('{"a":1}')),
      isEnvelope(Buffer.from([0xc3, 0x01])),
    ];

    // Assess
    expect([bare, json, tiny]).toEqual([false, false, false]);
  });

  it('refuses a header value that is not a string, naming it', () => {
    // Act
    const error = rejectionOf(() =>
      wrapEnvelope({ [HEADER.receivedAt]: 1718000000123 as never }, Buffer.from('p')),
    );

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain(`field 'headers.${HEADER.receivedAt}'`);
  });
});
