import type { Reading } from '../reading.ts';

/** A reading on its way into a store, with the bridge receive time when the stream carried it. */
export interface StoredReading extends Reading {
  /** Bridge receive time, ms since epoch (RecordMeta.receivedAt). */
  receivedAt?: number | undefined;
}

/** How a batch landed: `written + duplicates` equals the batch length. */
export interface WriteResult {
  written: number;
  /** Readings the store already held, or that repeated an earlier reading of the same batch. */
  duplicates: number;
}

/**
 * A time-series store. Writes are idempotent by (deviceId, ts, seq): a redelivered reading is
 * counted as a duplicate, never stored twice. A failed write rejects with an IngestError
 * (`STORE_WRITE_FAILED`), so the caller can retry the batch or report it; nothing is dropped silently.
 */
export interface TelemetryStore {
  readonly kind: string;
  writeReadings(readings: readonly StoredReading[]): Promise<WriteResult>;
  close(): Promise<void>;
}

/** A result cell, already in a JSON-safe form (see `toQueryValue` in duckdb-store.ts). */
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

/** Read-only SQL: a query that is not a SELECT (or EXPLAIN) is refused with `QUERY_FAILED`. */
export interface SqlQueryable {
  query(sql: string, options?: QueryOptions): Promise<QueryResult>;
}

export const DEFAULT_MAX_ROWS = 100_000;
