import type { Reading } from '../reading.ts';

/** A reading on its way into a store, with the bridge receive time when the stream carried it. */
export interface StoredReading extends Reading {
  /** Bridge receive time, ms since epoch (RecordMeta.receivedAt). */
  receivedAt?: number | undefined;
}

/** A reading the store refused for good, with the store's own words; it belongs in the dead-letter stream. */
export interface RejectedReading {
  reading: StoredReading;
  /** Why, as the store put it (e.g. Timestream's RejectedRecord.Reason, InfluxDB's error). */
  reason: string;
}

/** How a batch landed: `written + duplicates + (rejected?.length ?? 0)` equals the batch length. */
export interface WriteResult {
  written: number;
  /** Readings the store already held, or that repeated an earlier reading of the same batch. */
  duplicates: number;
  /**
   * Readings the store refused while it took the rest of the batch (Timestream's rejected records, a
   * point InfluxDB cannot parse). Retrying them cannot help: send them to the dead-letter stream.
   * Absent or empty when the whole batch landed.
   */
  rejected?: RejectedReading[];
}

/**
 * A time-series store. Writes are idempotent by (deviceId, ts, seq): a redelivered reading is
 * never stored twice. A failed write rejects with an IngestError (`STORE_WRITE_FAILED`, `retryable`
 * when trying the batch again can help), so the caller can retry the batch or report it; readings
 * refused one by one come back in `WriteResult.rejected`. Nothing is dropped silently.
 */
export interface TelemetryStore {
  readonly kind: string;
  /**
   * How a reading redelivered in a later batch is counted. `counted` (the default; DuckDB): as a
   * duplicate. `upserted` (Timestream, InfluxDB): the store overwrites the reading with itself, so
   * it may count as written again, yet it is still stored once. Repeats within one batch are
   * counted as duplicates by every store.
   */
  readonly redelivery?: 'counted' | 'upserted';
  writeReadings(readings: readonly StoredReading[]): Promise<WriteResult>;
  close(): Promise<void>;
}

/** A result cell, already in a JSON-safe form (see `toQueryValue` in duckdb-reader.ts). */
export type QueryValue = null | boolean | number | string | QueryValue[] | { [key: string]: QueryValue };

export interface QueryResult {
  columns: string[];
  /** SQL type of each column as the engine names it, e.g. `TIMESTAMP`, `DOUBLE`. */
  types: string[];
  rows: QueryValue[][];
  /** True when the result had more than `maxRows` rows and only the first ones are here. */
  truncated: boolean;
}

export interface QueryOptions {
  /** At most this many rows are returned (memory stays bounded); the rest is reported as `truncated`. */
  maxRows?: number | undefined;
  /** Aborting interrupts the running query. */
  signal?: AbortSignal | undefined;
}

/** Read-only queries: a statement that would change data is refused with `QUERY_FAILED`. */
export interface SqlQueryable {
  query(sql: string, options?: QueryOptions): Promise<QueryResult>;
}

/** A query engine that writes a query's whole result to a Parquet file itself (DuckDB's COPY). */
export interface ParquetExporter {
  /**
   * Writes every row `sql` returns to `path` (absolute, ending in `.parquet`, not existing yet);
   * resolves to the number of rows written.
   */
  exportParquet(sql: string, path: string, options?: { signal?: AbortSignal | undefined }): Promise<number>;
}

export const DEFAULT_MAX_ROWS = 100_000;
