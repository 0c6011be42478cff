/**
 * The binary layer under every codec: compiles schemas once with bounded collection readers, decodes
 * one Avro body in place (at an offset, no copy) with errors that say where it broke, and encodes a
 * framed body (single-object or Confluent prefix + body) with a single copy.
 *
 * This reaches under avsc's public API in three documented places, all pinned by tests:
 *  - `avsc/lib/utils.js` `Tap` (buf, pos), so one cursor is reused for every record and the position
 *    where a truncated record ran out is known; `Type#decode` allocates a cursor and a result object
 *    per call and only reports `offset: -1`.
 *  - `_read` of `["null", "double"]` unions, `long`s and (for telemetry) strings, replaced by
 *    readers that handle the common bytes themselves and hand everything else to avsc's: decoding a
 *    reading went from about 300 to 190 ns (bench/hot-path.ts). test/functions/lib/codec/
 *    fast-readers.test.ts holds them to avsc's results on random, truncated and corrupted readings.
 *  - `_read`/`_skip` of map and array types. avsc trusts block counts: a crafted count of 2^60 spins
 *    `while (n--)` forever (and past 2^53 `n--` no longer changes n), and a negative block size in
 *    `_skip` walks the cursor backwards. A single such record would block its partition, so map and
 *    array block counts are checked against the bytes left (zero-width items get a fixed allowance),
 *    the rule the Apache Avro SDKs apply with their collection limits (AVRO-3819, AVRO-4277).
 */
import { createRequire } from 'node:module';
import type { Schema, Type, types } from 'avsc';
import avsc from 'avsc';
import { type ErrorCode, errorMessage, RejectedRecordError } from '../errors.ts';
import { MAX_INTERNED_BYTES, StringTable } from './string-table.ts';

/** avsc's internal cursor (lib/utils.js). Reads past the end do not throw; they leave pos > length. */
export interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
  _invalidate(): void;
}

/** avsc's writing entry point on a Type. */
interface AvroWriter {
  _write(tap: Tap, value: unknown): void;
}

/** Anything avsc can read a value with: a Type, or a Resolver from a writer type to a reader type. */
export interface AvroReader {
  _read(tap: Tap): unknown;
}

interface InternalType extends AvroReader {
  _skip(tap: Tap): void;
}

const requireCjs = createRequire(import.meta.url);
const { Tap: TapClass } = requireCjs('avsc/lib/utils.js') as {
  Tap: new (buf: Buffer, pos?: number) => Tap;
};

const EMPTY = Buffer.alloc(0);

export function newTap(buf: Buffer, pos = 0): Tap {
  return new TapClass(buf, pos);
}

/** Zero-width items (null, empty records) may legitimately outnumber the bytes left; this many may. */
const ZERO_WIDTH_ALLOWANCE = 4096;

function blockCountIsPlausible(count: number, tap: Tap, allowance: number): boolean {
  const left = tap.buf.length - tap.pos;
  return count <= left || count <= allowance;
}

/** A map entry is at least one byte (its key's length), so a count above the bytes left is a lie. */
class BoundedMapType extends avsc.types.MapType {
  _read(tap: Tap): Record<string, unknown> {
    const values = this.valuesType as AvroReader;
    const map: Record<string, unknown> = {};
    for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
      if (n < 0) {
        n = -n;
        tap.skipLong(); // block size in bytes, only useful for skipping
      }
      if (!blockCountIsPlausible(n, tap, 0)) {
        tap._invalidate();
        return map;
      }
      for (; n > 0; n--) {
        const key = tap.readString();
        const value = values._read(tap);
        // An own property, not the prototype setter, so a device cannot rename `__proto__` away.
        if (key === '__proto__')
          Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
        else map[key] = value;
      }
    }
    return map;
  }

  _skip(tap: Tap): void {
    skipBlocks(tap, this.valuesType as InternalType, true);
  }
}

class BoundedArrayType extends avsc.types.ArrayType {
  _read(tap: Tap): unknown[] {
    const items = this.itemsType as unknown as AvroReader;
    const array: unknown[] = [];
    for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      if (!blockCountIsPlausible(n, tap, ZERO_WIDTH_ALLOWANCE)) {
        tap._invalidate();
        return array;
      }
      for (; n > 0; n--) array.push(items._read(tap));
    }
    return array;
  }

  _skip(tap: Tap): void {
    skipBlocks(tap, this.itemsType as unknown as InternalType, false);
  }
}

function skipBlocks(tap: Tap, element: InternalType, isMap: boolean): void {
  for (let n = tap.readLong(); n !== 0; n = tap.readLong()) {
    if (n < 0) {
      const size = tap.readLong();
      if (!(size >= 0 && size <= tap.buf.length - tap.pos)) {
        tap._invalidate();
        return;
      }
      tap.pos += size;
      continue;
    }
    if (!blockCountIsPlausible(n, tap, isMap ? 0 : ZERO_WIDTH_ALLOWANCE)) {
      tap._invalidate();
      return;
    }
    for (; n > 0; n--) {
      if (isMap) tap.skipString();
      element._skip(tap);
    }
  }
}

const DOUBLE = new Float64Array(1);
const DOUBLE_BYTES = new Uint8Array(DOUBLE.buffer);
const LITTLE_ENDIAN = new Uint16Array(new Uint8Array([1, 0]).buffer)[0] === 1;

/**
 * `["null", "double"]`, the type of every metric, read without avsc's generic union step (a varint
 * branch index, then a call through the branch's type): one byte says null (0) or double (2).
 * Anything else (a non-canonical index, a bad one, a truncated value) goes to avsc's own reader,
 * so errors and edge cases are exactly avsc's.
 */
class NullableDoubleType extends avsc.types.UnwrappedUnionType {
  _read(tap: Tap): number | null {
    const buf = tap.buf;
    const pos = tap.pos;
    const branch = buf[pos];
    if (branch === 2 && pos + 9 <= buf.length) {
      tap.pos = pos + 9;
      if (!LITTLE_ENDIAN) return buf.readDoubleLE(pos + 1);
      // Buffer#readDoubleLE does the same byte copy behind an argument check that costs more
      // than the copy; the bounds were checked above.
      const bytes = DOUBLE_BYTES;
      bytes[0] = buf[pos + 1]!;
      bytes[1] = buf[pos + 2]!;
      bytes[2] = buf[pos + 3]!;
      bytes[3] = buf[pos + 4]!;
      bytes[4] = buf[pos + 5]!;
      bytes[5] = buf[pos + 6]!;
      bytes[6] = buf[pos + 7]!;
      bytes[7] = buf[pos + 8]!;
      return DOUBLE[0]!;
    }
    if (branch === 0) {
      tap.pos = pos + 1;
      return null;
    }
    return (avsc.types.UnwrappedUnionType.prototype as unknown as AvroReader)._read.call(this, tap) as
      | number
      | null;
  }

  /**
   * Written the same way: the branch byte, then the double's 8 little-endian bytes. Past the
   * buffer's end nothing is written and `tap.pos` still moves on, as avsc's Tap does, so `encode`
   * reports the space missing. Anything but null or a number goes to avsc's own writer (its error).
   */
  _write(tap: Tap, value: unknown): void {
    const buf = tap.buf;
    const pos = tap.pos;
    if (value === null) {
      buf[pos] = 0;
      tap.pos = pos + 1;
      return;
    }
    if (typeof value !== 'number') {
      (avsc.types.UnwrappedUnionType.prototype as unknown as AvroWriter)._write.call(this, tap, value);
      return;
    }
    tap.pos = pos + 9;
    if (pos + 9 > buf.length) return;
    buf[pos] = 2;
    if (!LITTLE_ENDIAN) {
      buf.writeDoubleLE(value, pos + 1);
      return;
    }
    DOUBLE[0] = value;
    const bytes = DOUBLE_BYTES;
    buf[pos + 1] = bytes[0]!;
    buf[pos + 2] = bytes[1]!;
    buf[pos + 3] = bytes[2]!;
    buf[pos + 4] = bytes[3]!;
    buf[pos + 5] = bytes[4]!;
    buf[pos + 6] = bytes[5]!;
    buf[pos + 7] = bytes[6]!;
    buf[pos + 8] = bytes[7]!;
  }
}

/**
 * `long`, read without avsc's `Tap#readLong`, which stores `tap.pos` after every byte and, past 28
 * bits (every millisecond timestamp), finishes with a floating-point `%`. A varint of up to 7
 * bytes (49 bits, always exact in a double) is summed here with the position in a local; a longer
 * or truncated one goes to avsc's own reader, so errors and edge cases are exactly avsc's.
 */
class FastLongType extends avsc.types.LongType {
  _read(tap: Tap): number {
    const buf = tap.buf;
    const pos = tap.pos;
    const end = Math.min(buf.length, pos + 7);
    let n = 0;
    let scale = 1;
    for (let i = pos; i < end; i++) {
      const b = buf[i]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        tap.pos = i + 1;
        // Zigzag: the first byte's low bit is the sign; even n is n / 2, odd n is -(n + 1) / 2.
        return (buf[pos]! & 1) === 0 ? n / 2 : -(n + 1) / 2;
      }
      scale *= 128;
    }
    return (avsc.types.LongType.prototype as unknown as AvroReader)._read.call(this, tap) as number;
  }
}

const STRINGS = new StringTable();

/**
 * A string read through the StringTable when it is short (a one-byte length) and whole; otherwise,
 * and for every error, avsc's own reader.
 */
class InternedStringType extends avsc.types.StringType {
  _read(tap: Tap): string {
    const buf = tap.buf;
    const pos = tap.pos;
    const head = buf[pos]!; // zigzag length: even and under 0x80 is 0..63 bytes in one byte
    if ((head & 0x81) === 0) {
      const length = head >> 1;
      const start = pos + 1;
      if (length <= MAX_INTERNED_BYTES && start + length <= buf.length) {
        tap.pos = start + length;
        return STRINGS.get(buf, start, length);
      }
    }
    return tap.readString();
  }
}

function isNullableDouble(schema: unknown): boolean {
  return Array.isArray(schema) && schema.length === 2 && schema[0] === 'null' && schema[1] === 'double';
}

function typeHookFor({ internStrings = false, avscReaders = false }: CompileOptions) {
  return (schema: Schema, opts: object): Type | undefined => {
    if (internStrings && !avscReaders && schema === 'string') return new InternedStringType();
    if (!avscReaders && schema === 'long') return new FastLongType();
    if (!avscReaders && isNullableDouble(schema)) {
      const branches = (schema as string[]).map((s) => avsc.Type.forSchema(s as Schema, opts));
      return new NullableDoubleType(branches as unknown as Schema, opts);
    }
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return undefined;
    const typeName = (schema as { type?: unknown }).type;
    if (typeName === 'map') return new BoundedMapType(schema, opts);
    if (typeName === 'array') return new BoundedArrayType(schema, opts);
    return undefined;
  };
}

export interface CompileOptions {
  /** Decode short strings through one bounded table (string-table.ts): for telemetry, whose device ids repeat. */
  internStrings?: boolean;
  /** avsc's own readers for metrics, longs and strings instead of the hot path's (tests compare the two). */
  avscReaders?: boolean;
}

/**
 * Compiles a schema (parsed JSON or text) once. Records decode as plain objects (no avsc record
 * methods); unions of null and one other type decode unwrapped (`number | null`).
 */
export function compileSchema(schema: unknown, options: CompileOptions = {}): Type {
  const parsed = typeof schema === 'string' ? (JSON.parse(schema) as unknown) : schema;
  return avsc.Type.forSchema(parsed as Schema, {
    typeHook: typeHookFor(options),
    omitRecordMethods: true,
    wrapUnions: 'auto',
  });
}

/** A Buffer view of the same memory (avsc reads with Buffer methods); never a copy. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// One cursor for every decode: decoding is synchronous and never re-entrant.
const TAP = newTap(EMPTY);

/** What a body was, for messages: `Avro single-object body (writer 8f5c393f1ad57572)`. */
export interface BodyContext {
  readonly label: string;
  /** The writer type, walked field by field only after a failure to name the field. */
  readonly writerType: Type;
}

/**
 * Decodes the one value that fills `buf` from `start` to its end (a single-object or Confluent
 * body). Every failure is a RejectedRecordError: AVRO_TRUNCATED, or AVRO_INVALID for bad data and
 * trailing bytes.
 */
export function decodeBody(reader: AvroReader, buf: Buffer, start: number, context: BodyContext): unknown {
  TAP.buf = buf;
  TAP.pos = start;
  let value: unknown;
  try {
    value = reader._read(TAP);
  } catch (error) {
    // Garbage read past the end can throw before the cursor is checked; that is still truncation.
    throw TAP.pos > buf.length
      ? truncatedBody(buf, start, TAP.pos, context)
      : invalidBody(buf, start, context, error);
  } finally {
    TAP.buf = EMPTY; // do not keep the caller's buffer alive
  }
  const end = TAP.pos;
  if (end > buf.length) throw truncatedBody(buf, start, end, context);
  if (end < buf.length) {
    throw new RejectedRecordError(
      'AVRO_INVALID',
      `${context.label}: ${buf.length - end} trailing byte(s) after the record, which ends at byte ${end} of ${buf.length}`,
    );
  }
  return value;
}

/** Reads the next value of a sequence (container blocks); the caller owns the cursor. */
export function decodeNext(reader: AvroReader, tap: Tap, context: BodyContext): unknown {
  const start = tap.pos;
  let value: unknown;
  try {
    value = reader._read(tap);
  } catch (error) {
    throw tap.pos > tap.buf.length
      ? truncatedBody(tap.buf, start, tap.pos, context)
      : invalidBody(tap.buf, start, context, error);
  }
  if (tap.pos > tap.buf.length) throw truncatedBody(tap.buf, start, tap.pos, context);
  return value;
}

function truncatedBody(
  buf: Buffer,
  start: number,
  reached: number,
  context: BodyContext,
): RejectedRecordError {
  const where = locateFailure(context.writerType, buf, start);
  return new RejectedRecordError(
    'AVRO_TRUNCATED',
    `${context.label}: truncated at byte ${buf.length} of at least ${reached}${where ? `, in field '${where.path}'` : ''}`,
  );
}

function invalidBody(buf: Buffer, start: number, context: BodyContext, error: unknown): RejectedRecordError {
  const where = locateFailure(context.writerType, buf, start);
  const at = where ? ` in field '${where.path}' at byte ${where.pos}` : '';
  return new RejectedRecordError(
    'AVRO_INVALID',
    `${context.label}: invalid Avro data${at}: ${errorMessage(error)}`,
    error,
  );
}

/**
 * Only after a failure: re-reads the body with the writer type, one record field at a time, to name
 * the field where it broke (avsc's generated readers do not say).
 */
function locateFailure(
  writerType: Type,
  buf: Buffer,
  start: number,
): { path: string; pos: number } | undefined {
  const tap = newTap(buf, start);
  const walk = (type: Type, path: string): { path: string; pos: number } | undefined => {
    if (type.typeName === 'record' || type.typeName === 'error') {
      for (const field of (type as types.RecordType).fields) {
        const failure = walk(field.type, path === '' ? field.name : `${path}.${field.name}`);
        if (failure) return failure;
      }
      return undefined;
    }
    const pos = tap.pos;
    try {
      (type as unknown as InternalType)._read(tap);
    } catch {
      return { path: path || '(root)', pos };
    }
    return tap.pos > buf.length ? { path: path || '(root)', pos } : undefined;
  };
  try {
    return walk(writerType, '');
  } catch {
    return undefined;
  }
}

/** The field path and value avsc's validator stopped at, for encode errors. */
export function describeInvalidValue(type: Type, value: unknown): string {
  let problem = '';
  type.isValid(value, {
    errorHook: (path, any) => {
      if (problem === '') problem = `field '${path.join('.') || '(root)'}' cannot be ${formatValue(any)}`;
    },
  });
  return problem || 'value does not match the schema';
}

export function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`;
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : 'an object';
}

const SCRATCH_BYTES = 8192;
/** Largest scratch buffer kept between calls; a larger one is dropped once the call is done. */
const MAX_SCRATCH_BYTES = 1 << 20;
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/**
 * Encodes `value` into the scratch buffer at `pos` and returns where it ends. When it does not
 * fit, the scratch buffer is replaced by one at least twice as large, keeping its first `pos`
 * bytes, and the value is written again.
 */
function encodeIntoScratch(type: Type, value: unknown, pos: number): number {
  const end = type.encode(value, scratch, pos);
  if (end >= 0) return end;
  // `-end` more bytes were needed.
  const grown = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
  scratch.copy(grown, 0, 0, pos);
  scratch = grown;
  return type.encode(value, scratch, pos);
}

/** After a call that grew the scratch buffer past MAX_SCRATCH_BYTES: a small one again. */
function boundScratch(): void {
  if (scratch.length > MAX_SCRATCH_BYTES) scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
}

/**
 * `prefix` followed by the Avro encoding of `value`, in a new exactly-sized Buffer: written into the
 * reused scratch buffer and copied once.
 */
export function encodeWithPrefix(
  type: Type,
  prefix: Buffer,
  value: unknown,
  what: string,
  code: ErrorCode,
): Buffer<ArrayBuffer> {
  let end: number;
  try {
    prefix.copy(scratch, 0);
    end = encodeIntoScratch(type, value, prefix.length); // may replace `scratch`
  } catch (error) {
    boundScratch();
    throw new RejectedRecordError(code, `cannot encode ${what}: ${describeInvalidValue(type, value)}`, error);
  }
  const bytes = Buffer.from(scratch.subarray(0, end));
  boundScratch();
  return bytes;
}

/**
 * The Avro encodings of `values`, one after another, as a view of the reused scratch buffer: valid
 * only until the next encode call, so the caller copies it (a container's block is deflated or
 * concatenated right away). One buffer for the whole sequence, where a Buffer per value cost an
 * allocation and a copy each. `what(i)` names value i in the error.
 */
export function encodeSequence(
  type: Type,
  values: readonly unknown[],
  what: (index: number) => string,
  code: ErrorCode,
): Buffer {
  let pos = 0;
  for (let i = 0; i < values.length; i++) {
    try {
      pos = encodeIntoScratch(type, values[i], pos);
    } catch (error) {
      boundScratch();
      throw new RejectedRecordError(
        code,
        `cannot encode ${what(i)}: ${describeInvalidValue(type, values[i])}`,
        error,
      );
    }
  }
  const view = scratch.subarray(0, pos);
  boundScratch(); // the view keeps its own buffer alive
  return view;
}
