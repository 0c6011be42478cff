/**
 * CRC-64-AVRO schema fingerprints, as the Avro specification defines them ("Schema Fingerprints",
 * https://avro.apache.org/docs/1.11.1/specification/#schema-fingerprints): a 64-bit Rabin
 * fingerprint, table-driven, seeded with EMPTY = 0xc15d213aa4d7a795, computed over the UTF-8 bytes of
 * the schema's Parsing Canonical Form. Single-object encoding carries it as 8 little-endian bytes.
 *
 * Written by hand because avsc's `Type#fingerprint()` is MD5/SHA-256 only. The 64-bit state is kept
 * as two unsigned 32-bit halves so the loop needs neither BigInt nor allocation.
 */
import type { Type } from 'avsc';

/** The seed, and the fingerprint of zero bytes. */
export const CRC64_AVRO_EMPTY = 0xc15d213aa4d7a795n;

const EMPTY_LO = 0xa4d7a795;
const EMPTY_HI = 0xc15d213a;

// The spec's initFPTable(), one 32-bit half per array.
const TABLE_LO = new Uint32Array(256);
const TABLE_HI = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let j = 0; j < 8; j++) {
    const odd = lo & 1;
    // fp = (fp >>> 1) ^ (EMPTY & -(fp & 1))
    lo = ((lo >>> 1) | (hi << 31)) >>> 0;
    hi = hi >>> 1;
    if (odd) {
      lo = (lo ^ EMPTY_LO) >>> 0;
      hi = (hi ^ EMPTY_HI) >>> 0;
    }
  }
  TABLE_LO[i] = lo;
  TABLE_HI[i] = hi;
}

/** A schema's CRC-64-AVRO fingerprint in the three forms the codec needs. */
export interface SchemaFingerprint {
  /** The 64-bit value, e.g. for Map keys and for comparing with Java's `parsingFingerprint64`. */
  readonly value: bigint;
  /** The 8 little-endian bytes that follow `C3 01` in single-object encoding. */
  readonly bytes: Buffer;
  /** Lower-case hex of `bytes`, in wire order: what a hex dump of the payload shows. */
  readonly hex: string;
}

/** The CRC-64-AVRO fingerprint of raw bytes (the spec's `fingerprint64(byte[] buf)`). */
export function crc64Avro(data: Uint8Array): bigint {
  let lo = EMPTY_LO;
  let hi = EMPTY_HI;
  for (let i = 0; i < data.length; i++) {
    const index = (lo ^ (data[i] as number)) & 0xff;
    // fp = (fp >>> 8) ^ FP_TABLE[(fp ^ b) & 0xff]
    lo = (((lo >>> 8) | (hi << 24)) ^ (TABLE_LO[index] as number)) >>> 0;
    hi = ((hi >>> 8) ^ (TABLE_HI[index] as number)) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The Parsing Canonical Form of a compiled schema (spec, "Parsing Canonical Form for Schemas").
 *
 * avsc's `schema()` without `exportAttrs` already applies every PCF rule: primitives as bare
 * strings [PRIMITIVES], fullnames and no namespace [FULLNAMES], only name/type/fields/symbols/
 * items/values/size kept [STRIP], in that order [ORDER], names referenced after their first
 * definition, and `JSON.stringify` adds no whitespace [WHITESPACE] and leaves no escapes in the
 * strings Avro allows there [STRINGS] (names and symbols are [A-Za-z_][A-Za-z0-9_]*). The tests
 * pin this against the Avro project's own canonical-form vectors.
 */
export function parsingCanonicalForm(type: Type): string {
  return JSON.stringify(type.schema());
}

/** The fingerprint of a Parsing Canonical Form string. */
export function fingerprintOfCanonicalForm(pcf: string): SchemaFingerprint {
  return fingerprintFromValue(crc64Avro(Buffer.from(pcf, 'utf8')));
}

/** The fingerprint of a compiled schema. */
export function schemaFingerprint(type: Type): SchemaFingerprint {
  return fingerprintOfCanonicalForm(parsingCanonicalForm(type));
}

export function fingerprintFromValue(value: bigint): SchemaFingerprint {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, value));
  return { value: BigInt.asUintN(64, value), bytes, hex: bytes.toString('hex') };
}

/** Hex of the 8 fingerprint bytes at `offset`, in wire order, for error messages. */
export function fingerprintHexAt(bytes: Uint8Array, offset: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, 8).toString('hex');
}
