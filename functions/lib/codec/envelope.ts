/**
 * The envelope that carries a record's headers on Kinesis, which has none (schemas/envelope.avsc,
 * in single-object encoding). The device's payload rides inside untouched; Kafka carries the same
 * headers natively and needs no envelope.
 */
import { asBuffer } from './avro-binary.ts';
import { DEFAULT_SCHEMA_DIR } from './schema-registry.ts';
import { SingleObjectCodec } from './single-object.ts';

export interface Envelope {
  headers: Record<string, string>;
  payload: Buffer<ArrayBuffer>;
}

const codec = new SingleObjectCodec<{ headers: Record<string, string>; payload: Buffer }>(
  DEFAULT_SCHEMA_DIR,
  'envelope.avsc',
  'StreamEnvelope',
);

export function wrapEnvelope(headers: Record<string, string>, payload: Uint8Array): Buffer<ArrayBuffer> {
  return codec.encode({ headers, payload: asBuffer(payload) });
}

/**
 * Headers and payload of an envelope. Anything else is rejected: PAYLOAD_UNRECOGNISED without the
 * single-object marker, SCHEMA_UNKNOWN for another schema, AVRO_TRUNCATED / AVRO_INVALID for a
 * damaged one.
 */
export function unwrapEnvelope(bytes: Uint8Array): Envelope {
  const { headers, payload } = codec.decode(bytes);
  // avsc copies bytes out of its own pool of plain ArrayBuffers.
  return { headers, payload: payload as Buffer<ArrayBuffer> };
}

/** True when `bytes` start with the envelope's single-object header (C3 01 + its fingerprint). */
export function isEnvelope(bytes: Uint8Array): boolean {
  return codec.matches(bytes);
}

/** Hex of the envelope schema's CRC-64-AVRO fingerprint, in wire order. */
export function envelopeSchemaFingerprint(): string {
  return codec.fingerprint;
}
