/**
 * Avro single-object encoding (spec, "Single-object encoding"): the two marker bytes C3 01, the
 * writer schema's 8-byte little-endian CRC-64-AVRO fingerprint, then the Avro body.
 *
 * `SingleObjectCodec` is for records with exactly one schema (alerts, the Kinesis envelope):
 * compiled on first use, any other fingerprint is rejected. Telemetry, which has writer versions,
 * goes through the SchemaRegistry instead.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Type } from 'avsc';
import { type ErrorCode, RejectedRecordError } from '../errors.ts';
import {
  type AvroReader,
  asBuffer,
  type BodyContext,
  compileSchema,
  decodeBody,
  encodeWithPrefix,
} from './avro-binary.ts';
import { fingerprintHexAt, schemaFingerprint } from './crc64-avro.ts';

export const SINGLE_OBJECT_MAGIC = Buffer.from([0xc3, 0x01]);
export const SINGLE_OBJECT_HEADER_LENGTH = 10;

export function singleObjectHeader(fingerprintBytes: Buffer): Buffer {
  return Buffer.concat([SINGLE_OBJECT_MAGIC, fingerprintBytes]);
}

interface Compiled extends BodyContext {
  readonly type: Type;
  readonly header: Buffer;
  readonly fingerprint: string;
}

export class SingleObjectCodec<T> {
  readonly #schemaPath: string;
  readonly #what: string;
  readonly #invalidCode: ErrorCode;
  #compiled: Compiled | undefined;

  /** `what` names the record in messages ("Alert"); nothing is read until first use. */
  constructor(schemaDir: string, schemaFile: string, what: string, invalidCode: ErrorCode = 'AVRO_INVALID') {
    this.#schemaPath = join(schemaDir, schemaFile);
    this.#what = what;
    this.#invalidCode = invalidCode;
  }

  get type(): Type {
    return this.#get().type;
  }

  /** Hex of the schema's fingerprint bytes, in wire order. */
  get fingerprint(): string {
    return this.#get().fingerprint;
  }

  /** True when `bytes` start with this schema's single-object header. */
  matches(bytes: Uint8Array): boolean {
    const header = this.#get().header;
    if (bytes.length < SINGLE_OBJECT_HEADER_LENGTH) return false;
    for (let i = 0; i < SINGLE_OBJECT_HEADER_LENGTH; i++) if (bytes[i] !== header[i]) return false;
    return true;
  }

  encode(value: T): Buffer<ArrayBuffer> {
    const compiled = this.#get();
    return encodeWithPrefix(compiled.type, compiled.header, value, this.#what, this.#invalidCode);
  }

  decode(bytes: Uint8Array): T {
    const compiled = this.#get();
    const buf = asBuffer(bytes);
    if (buf.length < 2 || buf[0] !== 0xc3 || buf[1] !== 0x01) {
      const head = buf.subarray(0, 4).toString('hex') || 'nothing';
      throw new RejectedRecordError(
        'PAYLOAD_UNRECOGNISED',
        `not an Avro single-object ${this.#what}: it starts with ${head}, not c301`,
      );
    }
    if (buf.length < SINGLE_OBJECT_HEADER_LENGTH) {
      throw new RejectedRecordError(
        'AVRO_TRUNCATED',
        `${this.#what}: single-object header truncated at byte ${buf.length} of ${SINGLE_OBJECT_HEADER_LENGTH}`,
      );
    }
    if (!this.matches(buf)) {
      throw new RejectedRecordError(
        'SCHEMA_UNKNOWN',
        `not an ${this.#what}: writer schema fingerprint ${fingerprintHexAt(buf, 2)}, expected ${compiled.fingerprint} (${this.#schemaPath})`,
      );
    }
    return decodeBody(
      compiled.type as unknown as AvroReader,
      buf,
      SINGLE_OBJECT_HEADER_LENGTH,
      compiled,
    ) as T;
  }

  #get(): Compiled {
    if (this.#compiled === undefined) {
      const type = compileSchema(readFileSync(this.#schemaPath, 'utf8'));
      const fingerprint = schemaFingerprint(type);
      this.#compiled = {
        type,
        header: singleObjectHeader(fingerprint.bytes),
        fingerprint: fingerprint.hex,
        writerType: type,
        label: `${this.#what} (schema ${fingerprint.hex})`,
      };
    }
    return this.#compiled;
  }
}
