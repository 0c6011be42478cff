/**
 * Telemetry readings on the wire. One payload is detected by its first byte:
 *
 *   C3 01 + 8-byte CRC-64-AVRO fingerprint (LE) + body   Avro single-object encoding (spec,
 *                                                         "Single-object encoding"); the default
 *   00 + 4-byte big-endian schema id + body              Confluent wire format
 *                                                         (docs.confluent.io, "Wire format")
 *   { ... } (after optional whitespace/BOM)              JSON checked against the same schema
 *
 * A gateway batch is an Avro object container (object-container.ts). Every failure is a
 * RejectedRecordError whose code is the dead-letter reason and whose message says what was wrong.
 */
import { errorMessage, RejectedRecordError } from '../errors.ts';
import type { Reading } from '../reading.ts';
import { asBuffer, decodeBody, encodeWithPrefix } from './avro-binary.ts';
import { fingerprintHexAt } from './crc64-avro.ts';
import {
  type ContainerCodec,
  type ContainerReadLimits,
  isContainer,
  readContainer,
  writeContainer,
} from './object-container.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { SINGLE_OBJECT_HEADER_LENGTH } from './single-object.ts';

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Records and inflated bytes one gateway container may hold, beyond its compressed size limit. */
export const DEFAULT_CONTAINER_LIMITS: ContainerReadLimits = Object.freeze({
  maxRecords: 100_000,
  maxInflatedBytes: 16 * 1024 * 1024,
});

const CONFLUENT_HEADER_LENGTH = 5;
const CONFLUENT_MAGIC = 0x00;

export type WireFormat = 'single-object' | 'confluent' | 'json' | 'container' | 'unknown';

/** What the first bytes say a payload is; no validation beyond that. */
export function detectWireFormat(bytes: Uint8Array): WireFormat {
  const first = bytes[0];
  if (first === 0xc3 && bytes[1] === 0x01) return 'single-object';
  if (first === CONFLUENT_MAGIC) return 'confluent';
  if (isContainer(bytes)) return 'container';
  return bytes[jsonStart(bytes)] === 0x7b ? 'json' : 'unknown';
}

/**
 * One reading from any accepted wire format, as the current reader schema. Throws
 * RejectedRecordError: PAYLOAD_EMPTY, PAYLOAD_TOO_LARGE, PAYLOAD_UNRECOGNISED, SCHEMA_UNKNOWN,
 * AVRO_TRUNCATED, AVRO_INVALID, JSON_INVALID.
 */
export function decodeReading(
  bytes: Uint8Array,
  registry: SchemaRegistry,
  maxBytes: number = DEFAULT_MAX_PAYLOAD_BYTES,
): Reading {
  checkSize(bytes, maxBytes);
  const buf = asBuffer(bytes);
  const first = buf[0];
  if (first === 0xc3) return decodeSingleObject(buf, registry);
  if (first === CONFLUENT_MAGIC) return decodeConfluent(buf, registry);
  const start = jsonStart(buf);
  if (buf[start] === 0x7b) return decodeJson(buf, start, registry);
  throw unrecognised(buf);
}

function checkSize(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.length === 0) {
    throw new RejectedRecordError(
      'PAYLOAD_EMPTY',
      'payload is empty; expected an Avro single-object (C3 01 ...), Confluent (00 ...) or JSON reading',
    );
  }
  if (bytes.length > maxBytes) {
    throw new RejectedRecordError(
      'PAYLOAD_TOO_LARGE',
      `payload is ${bytes.length} bytes, over the ${maxBytes}-byte limit`,
    );
  }
}

function decodeSingleObject(buf: Buffer, registry: SchemaRegistry): Reading {
  if (buf.length > 1 && buf[1] !== 0x01) throw unrecognised(buf);
  if (buf.length < SINGLE_OBJECT_HEADER_LENGTH) {
    throw new RejectedRecordError(
      'AVRO_TRUNCATED',
      `Avro single-object header truncated at byte ${buf.length} of ${SINGLE_OBJECT_HEADER_LENGTH} (C3 01 + 8-byte schema fingerprint)`,
    );
  }
  const writer = registry.writerAt(buf, 2);
  if (writer === undefined) {
    throw new RejectedRecordError(
      'SCHEMA_UNKNOWN',
      `unknown writer schema fingerprint ${fingerprintHexAt(buf, 2)} (CRC-64-AVRO, wire order); known: ${registry.fingerprints().join(', ')}. ` +
        'Add the schema to schemas/history/ (or register it) and replay the dead letter',
    );
  }
  return decodeBody(writer.reader, buf, SINGLE_OBJECT_HEADER_LENGTH, writer) as Reading;
}

function decodeConfluent(buf: Buffer, registry: SchemaRegistry): Reading {
  if (buf.length < CONFLUENT_HEADER_LENGTH) {
    throw new RejectedRecordError(
      'AVRO_TRUNCATED',
      `Confluent header truncated at byte ${buf.length} of ${CONFLUENT_HEADER_LENGTH} (00 + 4-byte schema id)`,
    );
  }
  const id = buf.readUInt32BE(1);
  const writer = registry.lookupConfluentId(id);
  if (writer === undefined) {
    throw new RejectedRecordError(
      'SCHEMA_UNKNOWN',
      `unknown Confluent schema id ${id}; schemas/confluent-ids.json maps ${registry.confluentIds().join(', ') || 'none'}`,
    );
  }
  return decodeBody(writer.reader, buf, CONFLUENT_HEADER_LENGTH, writer) as Reading;
}

function decodeJson(buf: Buffer, start: number, registry: SchemaRegistry): Reading {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8', start));
  } catch (error) {
    throw new RejectedRecordError('JSON_INVALID', `payload is not valid JSON: ${errorMessage(error)}`, error);
  }
  return registry.readJson(value) as Reading;
}

/** Index of the first byte after a UTF-8 BOM and JSON whitespace. */
function jsonStart(bytes: Uint8Array): number {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
  }
  return i;
}

function unrecognised(buf: Buffer): RejectedRecordError {
  if (isContainer(buf)) {
    return new RejectedRecordError(
      'PAYLOAD_UNRECOGNISED',
      'payload is an Avro object container (a gateway batch); telemetry/{deviceId} carries one reading, batches go to gateways/{gatewayId}/telemetry',
    );
  }
  const head = buf
    .subarray(0, 8)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  return new RejectedRecordError(
    'PAYLOAD_UNRECOGNISED',
    `unrecognised payload starting ${head}; expected C3 01 (Avro single-object), 00 (Confluent) or a JSON object`,
  );
}

/** A reading in Avro single-object encoding with the current schema. */
export function encodeReading(reading: Reading, registry: SchemaRegistry): Buffer<ArrayBuffer> {
  return encodeWithPrefix(
    registry.readerType,
    registry.current.singleObjectHeader,
    reading,
    'reading',
    'READING_INVALID',
  );
}

/**
 * A reading in the Confluent wire format, written with the schema `schemaId` maps to (so an older
 * id writes the older shape: fields it lacks are dropped, doubles narrowed to floats).
 */
export function encodeConfluent(
  reading: Reading,
  schemaId: number,
  registry: SchemaRegistry,
): Buffer<ArrayBuffer> {
  const writer = registry.lookupConfluentId(schemaId);
  if (writer === undefined) {
    throw new RejectedRecordError(
      'SCHEMA_UNKNOWN',
      `unknown Confluent schema id ${schemaId}; schemas/confluent-ids.json maps ${registry.confluentIds().join(', ') || 'none'}`,
    );
  }
  const prefix = Buffer.alloc(CONFLUENT_HEADER_LENGTH);
  prefix.writeUInt32BE(schemaId, 1);
  return encodeWithPrefix(writer.writerType, prefix, reading, 'reading', 'READING_INVALID');
}

export interface ContainerEncodeOptions {
  readonly codec?: ContainerCodec;
  readonly syncMarker?: Buffer;
}

/** A gateway batch: an Avro object container with the current schema (as PCF) embedded; deflate by default. */
export function encodeReadingContainer(
  readings: readonly Reading[],
  registry: SchemaRegistry,
  options: ContainerEncodeOptions = {},
): Buffer<ArrayBuffer> {
  return writeContainer(registry.readerType, registry.current.canonicalForm, readings, {
    ...options,
    invalidCode: 'READING_INVALID',
  });
}

/**
 * Every reading of a gateway batch. The embedded writer schema is compiled and resolved to the
 * current schema once per distinct schema text (cached in the registry).
 */
export function decodeReadingContainer(
  bytes: Uint8Array,
  registry: SchemaRegistry,
  maxBytes: number = DEFAULT_MAX_PAYLOAD_BYTES,
  limits: ContainerReadLimits = DEFAULT_CONTAINER_LIMITS,
): Reading[] {
  checkSize(bytes, maxBytes);
  const buf = asBuffer(bytes);
  if (!isContainer(buf)) {
    throw new RejectedRecordError(
      'PAYLOAD_UNRECOGNISED',
      `gateway payload is not an Avro object container (it must start with 'Obj' 01); found ${detectWireFormat(buf)}`,
    );
  }
  return readContainer(
    buf,
    (schemaText) => registry.writerForContainerSchema(schemaText),
    limits,
  ) as Reading[];
}
