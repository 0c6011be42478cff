/**
 * The readings staging rows, written into one DuckDB data chunk through @duckdb/node-bindings.
 *
 * By hand because @duckdb/node-api's vector wrappers keep, per row, an item cache entry, a dirty
 * flag and a validity bit set with BigInt arithmetic, then copy everything again on flush. Writing
 * numbers into reused Float64Arrays (one copy per column per chunk), strings straight into their
 * vector, and null bits into a reused mask took 0.25 µs a row against the wrappers' 0.45 (20,000-row
 * batches of 20,000 devices), and the wrappers were a tenth of the runner's main thread in gateway
 * mode, where the runner is the first to run out of CPU.
 *
 * Validity masks are DuckDB's uint64 words, written here as pairs of little-endian uint32 words:
 * DuckDB's Node binaries exist only for little-endian platforms (x64 and arm64).
 */
import { createRequire } from 'node:module';
import { DOUBLE, DuckDBDataChunk, VARCHAR } from '@duckdb/node-api';
import type * as Bindings from '@duckdb/node-bindings';
import type { StoredReading } from './types.ts';

/**
 * The bindings module @duckdb/node-api itself loaded, resolved from node-api's own location: a
 * second copy of the native library would not accept the first one's chunks.
 */
const bindings: typeof Bindings = createRequire(createRequire(import.meta.url).resolve('@duckdb/node-api'))(
  '@duckdb/node-bindings',
);

/** Rows per chunk: DuckDB's vector size, the most a data chunk holds. */
export const CHUNK_ROWS = 2048;

/** Staging columns, in READINGS_STAGING_DDL's order. */
export const STAGING_TYPES = [
  VARCHAR,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  DOUBLE,
  VARCHAR,
  DOUBLE,
];
const DEVICE = 0;
const TAGS = 8;
/** The DOUBLE columns: ts, seq, the five metrics, received time. */
const NUMBER_COLUMNS = [1, 2, 3, 4, 5, 6, 7, 9] as const;
const MASK_WORDS = CHUNK_ROWS / 32;

export class StagingChunk {
  readonly chunk = DuckDBDataChunk.create(STAGING_TYPES);
  /** Per column: its numbers (DOUBLE columns) and its validity bits (every column). */
  readonly #numbers = STAGING_TYPES.map(() => new Float64Array(CHUNK_ROWS));
  readonly #masks = STAGING_TYPES.map(() => new Uint32Array(MASK_WORDS).fill(0xffffffff));
  readonly #nulls = new Int32Array(STAGING_TYPES.length);

  /** Fills the chunk with the next `rows` rows `next` gives, ready for `appendDataChunk`. */
  fill(rows: number, next: () => StoredReading): void {
    const raw = this.chunk.chunk;
    bindings.data_chunk_reset(raw); // every row valid again
    bindings.data_chunk_set_size(raw, rows);
    const device = bindings.data_chunk_get_vector(raw, DEVICE);
    const tags = bindings.data_chunk_get_vector(raw, TAGS);
    const [, ts, seq, temperature, humidity, pressure, vibration, battery, , received] = this.#numbers;
    // The last fill's null bits are cleared here rather than after it, so a fill that threw (a row
    // the store refuses) leaves nothing behind.
    for (let c = 0; c < STAGING_TYPES.length; c++) if (this.#nulls[c] !== 0) this.#masks[c]!.fill(0xffffffff);
    this.#nulls.fill(0);
    for (let i = 0; i < rows; i++) {
      const r = next();
      bindings.vector_assign_string_element(device, i, r.deviceId);
      ts![i] = r.ts;
      seq![i] = r.seq;
      this.#number(3, temperature!, i, r.temperature);
      this.#number(4, humidity!, i, r.humidity);
      this.#number(5, pressure!, i, r.pressure);
      this.#number(6, vibration!, i, r.vibration);
      this.#number(7, battery!, i, r.battery);
      this.#number(9, received!, i, r.receivedAt);
      if (r.tags === null || r.tags === undefined) this.#null(TAGS, i);
      else bindings.vector_assign_string_element(tags, i, JSON.stringify(r.tags));
    }
    for (const c of NUMBER_COLUMNS) {
      const numbers = this.#numbers[c]!;
      bindings.copy_data_to_vector(
        bindings.data_chunk_get_vector(raw, c),
        0,
        numbers.buffer,
        numbers.byteOffset,
        rows * Float64Array.BYTES_PER_ELEMENT,
      );
    }
    for (let c = 0; c < STAGING_TYPES.length; c++) {
      if (this.#nulls[c] === 0) continue;
      const vector = bindings.data_chunk_get_vector(raw, c);
      const mask = this.#masks[c]!;
      bindings.vector_ensure_validity_writable(vector);
      // Whole uint64 words: ceil(rows / 64) of them.
      bindings.copy_data_to_vector_validity(
        vector,
        0,
        mask.buffer,
        mask.byteOffset,
        Math.ceil(rows / 64) * 8,
      );
    }
  }

  #number(column: number, numbers: Float64Array, i: number, value: number | null | undefined): void {
    if (value === null || value === undefined) this.#null(column, i);
    else numbers[i] = value;
  }

  #null(column: number, i: number): void {
    const mask = this.#masks[column]!;
    mask[i >>> 5] = mask[i >>> 5]! & ~(1 << (i & 31));
    this.#nulls[column] = this.#nulls[column]! + 1;
  }
}
